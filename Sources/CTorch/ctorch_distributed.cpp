// ctorch_distributed.cpp — the C ABI over PyTorch's c10d: TCPStore rendezvous, ProcessGroupGloo
// collectives, and ProcessGroupNCCL's through the NCCL plug-in (ctorch_nccl_plugin.h). A translation
// unit of its own so that the Gloo headers stay out of ctorch.cpp.
#include "ctorch.h"
#include "ctorch_guard.h"
#include "ctorch_nccl_plugin.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <dlfcn.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
// The collectives' common base: c10d::Backend since libtorch 2.0, c10d::ProcessGroup in 1.13.
#if CTORCH_C10D_HAS_BACKEND
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

struct ProcessGroupHandle {
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<Collectives> group;
};

ProcessGroupHandle &G(ct_process_group handle) {
    if (handle == nullptr) throw std::invalid_argument("null process group handle");
    return *reinterpret_cast<ProcessGroupHandle *>(handle);
}

std::vector<at::Tensor> tensor_list(ct_tensor handle) {
    if (handle == nullptr) throw std::invalid_argument("null tensor handle");
    return {*reinterpret_cast<at::Tensor *>(handle)};
}

// Rank 0 hosts the store; every rank connects to it and waits for all of them.
c10::intrusive_ptr<c10d::Store> rendezvous(const char *master_addr, int port, int rank, int world_size,
                                           std::chrono::milliseconds timeout) {
    c10d::TCPStoreOptions storeOptions;
    storeOptions.port = static_cast<std::uint16_t>(port);
    storeOptions.isServer = rank == 0;
    storeOptions.numWorkers = world_size;
    storeOptions.waitWorkers = true;
    storeOptions.timeout = timeout;
    return c10::make_intrusive<c10d::TCPStore>(std::string(master_addr), storeOptions);
}
}  // namespace

extern "C" {

int ct_process_group_create(const char *master_addr, int port, int rank, int world_size, int64_t timeout_ms,
                            const char *interface, const char *hostname, ct_process_group *out) {
    CT_GUARD({
        auto timeout = std::chrono::milliseconds(timeout_ms);
        auto store = rendezvous(master_addr, port, rank, world_size, timeout);
        auto options = c10d::ProcessGroupGloo::Options::create(timeout);
        if (interface != nullptr) {
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
        } else if (hostname != nullptr) {
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
        } else {
            options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        }
        options->threads = 2;
        c10::intrusive_ptr<Collectives> group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, options);
        *out = reinterpret_cast<ct_process_group>(new ProcessGroupHandle{store, group});
    })
}

int ct_process_group_nccl_supported(void) { return CTORCH_C10D_HAS_BACKEND ? 1 : 0; }

#if CTORCH_C10D_HAS_BACKEND
int ct_process_group_create_nccl(const char *master_addr, int port, int rank, int world_size, int64_t timeout_ms,
                                 int device_index, const char *plugin_path, ct_process_group *out) {
    CT_GUARD({
        if (ct_load_cuda() != 0) throw std::runtime_error(std::string("NCCL needs libtorch's CUDA library: ") + ct_last_error());
        // Loaded once per path and never unloaded (its process groups live until exit).
        void *plugin = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
        if (plugin == nullptr) {
            const char *error = dlerror();
            throw std::runtime_error(std::string("the NCCL plug-in cannot be loaded: ") + (error ? error : plugin_path));
        }
        auto abi = reinterpret_cast<ctorch_nccl_abi_fn>(dlsym(plugin, CTORCH_NCCL_ABI_SYMBOL));
        auto create = reinterpret_cast<ctorch_nccl_create_fn>(dlsym(plugin, CTORCH_NCCL_CREATE_SYMBOL));
        if (abi == nullptr || create == nullptr) {
            throw std::runtime_error(std::string(plugin_path) + " is not an edlcm NCCL plug-in");
        }
        if (abi() != CTORCH_NCCL_ABI) {
            throw std::runtime_error(std::string(plugin_path) + " was built for another edlcm (plug-in ABI " +
                                     std::to_string(abi()) + ", this edlcm needs " + std::to_string(CTORCH_NCCL_ABI) + ")");
        }
        if (std::string(TORCH_VERSION) != ctorch_nccl_torch_version(plugin)) {
            throw std::runtime_error(std::string(plugin_path) + " was built against torch " +
                                     ctorch_nccl_torch_version(plugin) + ", this edlcm against torch " + TORCH_VERSION);
        }
        auto timeout = std::chrono::milliseconds(timeout_ms);
        auto store = rendezvous(master_addr, port, rank, world_size, timeout);
        c10::intrusive_ptr<c10d::Backend> group;
        char error[1024] = {0};
        if (create(&store, rank, world_size, timeout_ms, device_index, &group, error, sizeof error) != 0) {
            throw std::runtime_error(std::string("ProcessGroupNCCL: ") + error);
        }
        *out = reinterpret_cast<ct_process_group>(new ProcessGroupHandle{store, group});
    })
}
#else
int ct_process_group_create_nccl(const char *, int, int, int, int64_t, int, const char *, ct_process_group *) {
    CT_GUARD(throw std::runtime_error("NCCL needs an edlcm built on libtorch 2.x (this one is on libtorch " TORCH_VERSION ")"))
}
#endif

void ct_process_group_free(ct_process_group group) {
    delete reinterpret_cast<ProcessGroupHandle *>(group);
}

int ct_process_group_rank(ct_process_group group, int *out) { CT_GUARD(*out = G(group).group->getRank()) }
int ct_process_group_size(ct_process_group group, int *out) { CT_GUARD(*out = G(group).group->getSize()) }

int ct_process_group_allreduce_sum(ct_process_group group, ct_tensor tensor) {
    CT_GUARD({
        auto list = tensor_list(tensor);
        c10d::AllreduceOptions options;
        options.reduceOp = c10d::ReduceOp::SUM;
        G(group).group->allreduce(list, options)->wait();
    })
}

int ct_process_group_broadcast(ct_process_group group, ct_tensor tensor, int root) {
    CT_GUARD({
        auto list = tensor_list(tensor);
        c10d::BroadcastOptions options;
        options.rootRank = root;
        G(group).group->broadcast(list, options)->wait();
    })
}

int ct_process_group_barrier(ct_process_group group) { CT_GUARD(G(group).group->barrier()->wait()) }

}  // extern "C"
