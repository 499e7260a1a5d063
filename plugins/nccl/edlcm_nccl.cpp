// edlcm_nccl.cpp — the NCCL plug-in: constructs c10d's ProcessGroupNCCL for the shim (the contract is
// Sources/CTorch/ctorch_nccl_plugin.h). Built by scripts/nccl-plugin.sh into libedlcm_nccl.so
// against the same torch as edlcm and the CUDA/NCCL headers of the wheels that torch pins (the
// process group's layout depends on them); linked to libtorch_cuda, which the shim has loaded
// before it loads this.
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include "ctorch_nccl_plugin.h"

#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <chrono>
#include <cstdio>
#include <exception>

extern "C" {

__attribute__((visibility("default"))) int edlcm_nccl_abi(void) { return CTORCH_NCCL_ABI; }

__attribute__((visibility("default"))) const char *edlcm_nccl_torch_version(void) { return TORCH_VERSION; }

__attribute__((visibility("default"))) int edlcm_nccl_create(void *store, int rank, int world_size, int64_t timeout_ms,
                                                             int device_index, void *out, char *error, size_t error_size) {
    try {
        auto &shared = *static_cast<c10::intrusive_ptr<c10d::Store> *>(store);
        // One GPU per rank, as torchrun's processes use: this rank's collectives and NCCL
        // communicator are on device_index. Bound and connected now, as init_process_group(device_id=)
        // does: a barrier needs no guess, and a broken GPU or NCCL setup fails here, on every rank,
        // rather than at the first collective.
        c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index));
        auto options = c10d::ProcessGroupNCCL::Options::create();
        options->timeout = std::chrono::milliseconds(timeout_ms);
        auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(shared, rank, world_size, options);
        at::Device device(at::kCUDA, static_cast<c10::DeviceIndex>(device_index));
        group->setBoundDeviceId(device);
        group->eagerConnectSingleDevice(device);
        *static_cast<c10::intrusive_ptr<c10d::Backend> *>(out) = group;
        return 0;
    } catch (const c10::Error &caught) {
        std::snprintf(error, error_size, "%s", caught.what_without_backtrace());
    } catch (const std::exception &caught) {
        std::snprintf(error, error_size, "%s", caught.what());
    } catch (...) {
        std::snprintf(error, error_size, "unknown C++ exception");
    }
    return 1;
}

}  // extern "C"
