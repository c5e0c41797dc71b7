#version 430
// A textured ground plane seen at a grazing angle (the example in samples/render_plane.py).
uniform mat4 mvp;
uniform float uv_repeat;
in vec3 in_pos;   // plane corners in [-1, 1] x [-1, 1] at y = 0
out vec2 v_uv;
void main() {
    v_uv = (in_pos.xz * 0.5 + 0.5) * uv_repeat;
    gl_Position = mvp * vec4(in_pos, 1.0);
}
