// glTF-Transform CLI configuration that keeps texgs textures:
//
//   npx gltf-transform --config tools/gltf/gltf-transform.config.mjs copy in.glb out.glb
//
// The CLI replaces its extension list with this one, so it lists every extension the CLI
// supports and TEXGS_texture_gaussian.
import { ALL_EXTENSIONS } from '@gltf-transform/extensions';
import { TexgsTextureGaussian } from './texgs-gltf-transform.mjs';

export default {
  extensions: [...ALL_EXTENSIONS, TexgsTextureGaussian],
};
