"""What the engine's decode shaders ask of an AMD GPU, from its real shader compiler and no
GPU: the HLSL compute shaders (engine_shaders/hlsl, compiled to SPIR-V with glslang as
texgs.hlsl_runner does) are built into pipelines on Mesa's RADV driver running on its null
device (RADV_FORCE_FAMILY, default navi21: an RDNA2 Radeon RX 6800/6900), and the ACO
compiler's statistics are read back through VK_KHR_pipeline_executable_properties: vector
and scalar registers, spills, scratch (private) memory, LDS (group shared memory), subgroups
(waves) per SIMD and instructions.

Variants, in one run: each shader with its defaults, with TEXGS_MAX_K set to the baker's K
(5), and the tile-cooperative shader with the group shared memory of its earlier defaults
(TEXGS_TILE_BATCH 256, TEXGS_COLOR_CACHE 2048; now 64 and 512) as the baseline.

    python bench/bench_shader_resources.py [--family navi21] [--json out.json]

Needs the `vulkan` package (extra `shaders`), Mesa's RADV (Debian mesa-vulkan-drivers) and
glslang-tools. Exit: 0; 3 when one of them is missing (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROG = "bench_shader_resources"
RADV_ICD = Path("/usr/share/vulkan/icd.d/radeon_icd.x86_64.json")
STATS = ("VGPRs", "SGPRs", "Spilled VGPRs", "Spilled SGPRs", "Scratch size", "LDS size",
         "Subgroups per SIMD", "Instructions")
K = 5  # texgs.bake.config.BakeConfig.top_k
OLD_TILE_DEFAULTS = {"TEXGS_TILE_BATCH": 256, "TEXGS_COLOR_CACHE": 2048}
VARIANTS = [  # (label, shader, defines)
    ("per-texel, defaults", "texgs_decode_cs.hlsl", {}),
    (f"per-texel, MAX_K {K}", "texgs_decode_cs.hlsl", {"TEXGS_MAX_K": K}),
    ("tiles, defaults", "texgs_decode_tiles_cs.hlsl", {}),
    (f"tiles, MAX_K {K}", "texgs_decode_tiles_cs.hlsl", {"TEXGS_MAX_K": K}),
    ("tiles, earlier LDS", "texgs_decode_tiles_cs.hlsl", dict(OLD_TILE_DEFAULTS)),
    (f"tiles, earlier LDS, MAX_K {K}", "texgs_decode_tiles_cs.hlsl",
     {**OLD_TILE_DEFAULTS, "TEXGS_MAX_K": K}),
]


class Unavailable(RuntimeError):
    """The vulkan package, RADV or glslang is missing."""


class RadvNull:
    """A Vulkan device on RADV's null device of ``family``, with pipeline statistics."""

    def __init__(self, family: str) -> None:
        if not RADV_ICD.exists():
            raise Unavailable(f"Mesa RADV not installed ({RADV_ICD} missing; Debian: "
                              "mesa-vulkan-drivers)")
        try:
            import vulkan as vk
        except (ImportError, OSError) as e:  # the package, or libvulkan.so.1
            raise Unavailable(f"the vulkan package cannot load ({e}); pip install "
                              "'texgs[shaders]'") from None
        self.vk = vk
        # the loader and RADV read these when the instance enumerates its devices; put back
        # after, so that Vulkan users later in the process (wgpu on lavapipe) see no change
        saved = {k: os.environ.get(k) for k in ("RADV_FORCE_FAMILY", "VK_ICD_FILENAMES")}
        os.environ["RADV_FORCE_FAMILY"] = family
        os.environ["VK_ICD_FILENAMES"] = str(RADV_ICD)
        try:
            app = vk.VkApplicationInfo(sType=vk.VK_STRUCTURE_TYPE_APPLICATION_INFO,
                                       apiVersion=vk.VK_MAKE_VERSION(1, 2, 0))
            self.instance = vk.vkCreateInstance(vk.VkInstanceCreateInfo(
                sType=vk.VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, pApplicationInfo=app), None)
            phys = [p for p in vk.vkEnumeratePhysicalDevices(self.instance)
                    if "RADV" in vk.vkGetPhysicalDeviceProperties(p).deviceName]
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        if not phys:
            raise Unavailable(f"RADV offers no device for RADV_FORCE_FAMILY={family}")
        self.device_name = vk.vkGetPhysicalDeviceProperties(phys[0]).deviceName
        queue = vk.VkDeviceQueueCreateInfo(sType=vk.VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                           queueFamilyIndex=0, queueCount=1,
                                           pQueuePriorities=[1.0])
        feature = vk.VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR(
            sType=vk.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
            pipelineExecutableInfo=vk.VK_TRUE)
        self.device = vk.vkCreateDevice(phys[0], vk.VkDeviceCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, pNext=feature,
            queueCreateInfoCount=1, pQueueCreateInfos=[queue], enabledExtensionCount=1,
            ppEnabledExtensionNames=["VK_KHR_pipeline_executable_properties"]), None)
        self._props = vk.vkGetDeviceProcAddr(self.device, "vkGetPipelineExecutablePropertiesKHR")
        self._stats = vk.vkGetDeviceProcAddr(self.device, "vkGetPipelineExecutableStatisticsKHR")
        # every binding of the texgs shaders' set 0 as a storage buffer (the statistics do
        # not depend on the descriptor types)
        binds = [vk.VkDescriptorSetLayoutBinding(
            binding=b, descriptorType=vk.VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, descriptorCount=1,
            stageFlags=vk.VK_SHADER_STAGE_COMPUTE_BIT) for b in range(8)]
        dsl = vk.vkCreateDescriptorSetLayout(self.device, vk.VkDescriptorSetLayoutCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            bindingCount=len(binds), pBindings=binds), None)
        self.layout = vk.vkCreatePipelineLayout(self.device, vk.VkPipelineLayoutCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, setLayoutCount=1,
            pSetLayouts=[dsl]), None)

    def compute_stats(self, spirv: bytes) -> dict[str, int]:
        """The compiler's statistics of a compute pipeline from ``spirv`` (entry main)."""
        vk = self.vk
        module = vk.vkCreateShaderModule(self.device, vk.VkShaderModuleCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, codeSize=len(spirv),
            pCode=spirv), None)
        stage = vk.VkPipelineShaderStageCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            stage=vk.VK_SHADER_STAGE_COMPUTE_BIT, module=module, pName="main")
        info = vk.VkComputePipelineCreateInfo(
            sType=vk.VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
            flags=vk.VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR, stage=stage,
            layout=self.layout)
        pipeline = vk.vkCreateComputePipelines(self.device, None, 1, [info], None)[0]
        out: dict[str, int] = {}
        pinfo = vk.VkPipelineInfoKHR(sType=vk.VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR,
                                     pipeline=pipeline)
        for i, _ in enumerate(self._props(self.device, pinfo)):
            einfo = vk.VkPipelineExecutableInfoKHR(
                sType=vk.VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR, pipeline=pipeline,
                executableIndex=i)
            for s in self._stats(self.device, einfo):
                name = s.name if isinstance(s.name, str) else vk.ffi.string(s.name).decode()
                if s.format == vk.VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
                    out[name] = int(s.value.u64)
                elif s.format == vk.VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
                    out[name] = int(s.value.i64)
        vk.vkDestroyPipeline(self.device, pipeline, None)
        vk.vkDestroyShaderModule(self.device, module, None)
        return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="navi21",
                    help="RADV_FORCE_FAMILY: the AMD chip to compile for (default navi21)")
    ap.add_argument("--json", type=Path, default=None, help="write every number here")
    return ap.parse_args(argv)


def run(family: str) -> tuple[str, list[dict]]:
    """(device name, one dict per variant: label, shader, defines and the statistics)."""
    from texgs.hlsl_runner import ToolMissingError, compile_hlsl

    radv = RadvNull(family)
    rows = []
    for label, shader, defines in VARIANTS:
        try:
            spirv = compile_hlsl(shader, "comp", defines=defines)
        except ToolMissingError as e:
            raise Unavailable(str(e)) from None
        stats = radv.compute_stats(spirv)
        rows.append({"variant": label, "shader": shader, "defines": defines,
                     **{k: stats.get(k) for k in STATS}})
    return radv.device_name, rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        name, rows = run(args.family)
    except Unavailable as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 3
    print(f"{name}: ACO's statistics of each compute pipeline (HLSL -> SPIR-V by glslang)")
    head = f"{'variant':<30} " + " ".join(f"{s:>14}" for s in STATS)
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['variant']:<30} " + " ".join(f"{str(r[s]):>14}" for s in STATS))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": name, "family": args.family,
                                         "rows": rows}, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
