#version 450
// copy.comp - the device-copy bandwidth probe (Context::copy_bandwidth): a
// plain 16-byte-per-thread copy from binding Q to binding OUT, the yardstick
// the decode's achieved bandwidth is compared with. Not part of a decode.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = MLA_VK_COPY_THREADS) in;

layout(std430, set = 0, binding = MLA_VK_BIND_Q) readonly buffer Src { uvec4 src[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_OUT) writeonly buffer Dst { uvec4 dst[]; };

void main() {
  const uint stride = gl_NumWorkGroups.x * MLA_VK_COPY_THREADS;
  for (uint i = gl_GlobalInvocationID.x; i < uint(pc.copy_vec4); i += stride) dst[i] = src[i];
}
