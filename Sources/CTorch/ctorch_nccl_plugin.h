// ctorch_nccl_plugin.h — the contract between the shim (ctorch_distributed.cpp) and the NCCL plug-in
// (plugins/nccl/edlcm_nccl.cpp, built into libedlcm_nccl.so by scripts/nccl-plugin.sh). Private to the
// shim, not in include/.
//
// Why a plug-in: c10d's ProcessGroupNCCL lives in libtorch_cuda and its headers need CUDA's and
// NCCL's, so it cannot be in the binary that also runs on CPU machines without them (edlcm links
// torch_cpu and c10 only, and loads libtorch_cuda on demand). The plug-in is built against the same
// torch as edlcm and the CUDA/NCCL headers of the wheels that torch pins; it only constructs the
// process group, whose collectives the shim then calls through c10d's virtual interface.
#pragma once

#include <dlfcn.h>

#include <cstddef>
#include <cstdint>

#if __has_include(<torch/headeronly/version.h>)
#include <torch/headeronly/version.h>
#else
#include <torch/version.h>
#endif

// c10d::Backend is the base of every process group's collectives since libtorch 2.0 (1.13's Gloo
// derives from c10d::ProcessGroup), and the plug-in exists for 2.x only.
#define CTORCH_C10D_HAS_BACKEND (TORCH_VERSION_MAJOR >= 2)

// Bumped whenever a signature below changes.
#define CTORCH_NCCL_ABI 1
#define CTORCH_NCCL_ABI_SYMBOL "edlcm_nccl_abi"
#define CTORCH_NCCL_TORCH_SYMBOL "edlcm_nccl_torch_version"
#define CTORCH_NCCL_CREATE_SYMBOL "edlcm_nccl_create"

typedef int (*ctorch_nccl_abi_fn)(void);
typedef const char *(*ctorch_nccl_torch_fn)(void);
// store: a c10::intrusive_ptr<c10d::Store>*; out: a c10::intrusive_ptr<c10d::Backend>* that receives
// the process group. Returns 0, or 1 with a message in error.
typedef int (*ctorch_nccl_create_fn)(void *store, int rank, int world_size, int64_t timeout_ms, int device_index,
                                     void *out, char *error, size_t error_size);

// The torch version a loaded plug-in was built against ("" when it does not say).
inline const char *ctorch_nccl_torch_version(void *plugin) {
    auto version = reinterpret_cast<ctorch_nccl_torch_fn>(dlsym(plugin, CTORCH_NCCL_TORCH_SYMBOL));
    return version ? version() : "";
}
