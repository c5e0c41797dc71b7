// One triangle covering the viewport (draw 3 vertices, no vertex buffers, no culling).
float4 main(uint vid : SV_VertexID) : SV_Position {
    float2 p = float2((float)((vid << 1u) & 2u), (float)(vid & 2u));
    return float4(p * 2.0f - 1.0f, 0.0f, 1.0f);
}
