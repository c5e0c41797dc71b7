// TEXGS_texture_gaussian for glTF-Transform (@gltf-transform/core): read and write textures
// whose image is a texgs asset (docs/GLTF.md).
//
// glTF-Transform models a glTF image as a `Texture` and a material slot's texCoord and
// sampler as a `TextureInfo`; it has no object for a glTF `textures[i]` entry. So:
// - reading, the texture's `source` is pointed at the extension's .tgs image (the slot's
//   Texture is then the asset), and the slot's TextureInfo gets a `TexgsTextureMap`
//   property with the map name, the channel mapping and a reference to the fallback image
//   (the texture's original `source`, if any), which keeps that image alive through
//   `prune` and other transforms;
// - writing, every slot's texture entry gets the extension back, its `source` becomes the
//   fallback image again (or is removed), and slots that glTF-Transform merged into one
//   texture entry (same image and sampler) but read different maps are split again.
import { Extension, ExtensionProperty, PropertyType } from '@gltf-transform/core';

export const TEXGS_TEXTURE_GAUSSIAN = 'TEXGS_texture_gaussian';
export const TEXGS_MIME_TYPE = 'application/x-texgs';

/** Which map of a texgs asset a material slot reads, and its fallback image. */
export class TexgsTextureMap extends ExtensionProperty {
  static EXTENSION_NAME = TEXGS_TEXTURE_GAUSSIAN;

  init() {
    this.extensionName = TEXGS_TEXTURE_GAUSSIAN;
    this.propertyType = 'TexgsTextureMap';
    this.parentTypes = [PropertyType.TEXTURE_INFO];
  }

  getDefaults() {
    return Object.assign(super.getDefaults(), { map: '', channels: [0, 1, 2, -1], fallback: null });
  }

  /** Name of the map in the asset's map table (e.g. "basecolor", "orm"). */
  getMap() { return this.get('map'); }
  setMap(map) { return this.set('map', map); }

  /** For the texture's R, G, B, A: the map component it reads, or -1 for the constant 1. */
  getChannels() { return this.get('channels'); }
  setChannels(channels) { return this.set('channels', channels); }

  /** The image (glTF-Transform Texture) a loader without texgs uses, or null. */
  getFallback() { return this.getRef('fallback'); }
  setFallback(texture) { return this.setRef('fallback', texture); }
}

/** The TEXGS_texture_gaussian extension: register it on an IO to keep texgs textures. */
export class TexgsTextureGaussian extends Extension {
  static EXTENSION_NAME = TEXGS_TEXTURE_GAUSSIAN;
  extensionName = TEXGS_TEXTURE_GAUSSIAN;
  prereadTypes = [PropertyType.TEXTURE];

  /** Original `source` (fallback image) of each texture entry that carries the extension. */
  #fallbackSource = new Map();

  createTextureMap() {
    return new TexgsTextureMap(this.document.getGraph());
  }

  /** @hidden Point each texgs texture at its asset before glTF-Transform reads the slots. */
  preread(context) {
    this.#fallbackSource.clear();
    const textureDefs = context.jsonDoc.json.textures || [];
    textureDefs.forEach((textureDef, index) => {
      const ext = textureDef.extensions && textureDef.extensions[TEXGS_TEXTURE_GAUSSIAN];
      if (!ext) return;
      this.#fallbackSource.set(index, textureDef.source);
      textureDef.source = ext.source;
    });
    return this;
  }

  /** @hidden Attach the map and the fallback image to every slot that reads a texgs texture. */
  read(context) {
    const textureDefs = context.jsonDoc.json.textures || [];
    for (const [textureInfo, textureInfoDef] of context.textureInfos.entries()) {
      const textureDef = textureDefs[textureInfoDef.index];
      const ext = textureDef && textureDef.extensions && textureDef.extensions[TEXGS_TEXTURE_GAUSSIAN];
      if (!ext) continue;
      const prop = this.createTextureMap().setMap(ext.map);
      if (ext.channels !== undefined) prop.setChannels(ext.channels);
      const fallback = this.#fallbackSource.get(textureInfoDef.index);
      if (fallback !== undefined) prop.setFallback(context.textures[fallback]);
      textureInfo.setExtension(TEXGS_TEXTURE_GAUSSIAN, prop);
    }
    return this;
  }

  /** @hidden Write the extension on the texture entries of every slot that has one. */
  write(context) {
    const json = context.jsonDoc.json;
    const slots = [];
    for (const [textureInfo, textureInfoDef] of context.textureInfoDefMap.entries()) {
      const prop = textureInfo.getExtension(TEXGS_TEXTURE_GAUSSIAN);
      if (!prop) continue;
      const written = json.textures[textureInfoDef.index];
      slots.push({ prop, textureInfoDef, asset: written.source, sampler: written.sampler });
    }
    const claimed = new Map();  // texture entry index -> what it holds (JSON string)
    for (const { prop, textureInfoDef, asset, sampler } of slots) {
      const fallback = prop.getFallback();
      const entry = { sampler };
      if (fallback) entry.source = context.imageIndexMap.get(fallback);
      entry.extensions = {
        [TEXGS_TEXTURE_GAUSSIAN]: { source: asset, map: prop.getMap(), channels: prop.getChannels() },
      };
      const key = JSON.stringify(entry);
      let index = textureInfoDef.index;
      if (claimed.has(index) && claimed.get(index) !== key) {
        const same = [...claimed.entries()].find(([, k]) => k === key);
        index = same ? same[0] : json.textures.push({}) - 1;
      }
      const def = json.textures[index];
      for (const k of Object.keys(def)) if (k !== 'extensions') delete def[k];
      def.extensions = Object.assign(def.extensions || {}, entry.extensions);
      if (entry.sampler !== undefined) def.sampler = entry.sampler;
      if (entry.source !== undefined) def.source = entry.source;
      claimed.set(index, key);
      textureInfoDef.index = index;
    }
    return this;
  }
}
