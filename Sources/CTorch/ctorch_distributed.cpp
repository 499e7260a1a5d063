// ctorch_distributed.cpp — the C ABI over PyTorch's c10d: TCPStore rendezvous and ProcessGroupGloo
// collectives. A translation unit of its own so that the Gloo headers stay out of ctorch.cpp.
#include "ctorch.h"
#include "ctorch_guard.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace {
struct ProcessGroupHandle {
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

ProcessGroupHandle &G(ct_process_group handle) {
    if (handle == nullptr) throw std::invalid_argument("null process group handle");
    return *reinterpret_cast<ProcessGroupHandle *>(handle);
}

std::vector<at::Tensor> tensor_list(ct_tensor handle) {
    if (handle == nullptr) throw std::invalid_argument("null tensor handle");
    return {*reinterpret_cast<at::Tensor *>(handle)};
}
}  // namespace

extern "C" {

int ct_process_group_create(const char *master_addr, int port, int rank, int world_size, int64_t timeout_ms,
                            const char *interface, const char *hostname, ct_process_group *out) {
    CT_GUARD({
        auto timeout = std::chrono::milliseconds(timeout_ms);
        c10d::TCPStoreOptions storeOptions;
        storeOptions.port = static_cast<std::uint16_t>(port);
        storeOptions.isServer = rank == 0;
        storeOptions.numWorkers = world_size;
        storeOptions.waitWorkers = true;
        storeOptions.timeout = timeout;
        auto store = c10::make_intrusive<c10d::TCPStore>(std::string(master_addr), storeOptions);
        auto options = c10d::ProcessGroupGloo::Options::create(timeout);
        if (interface != nullptr) {
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
        } else if (hostname != nullptr) {
            options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
        } else {
            options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        }
        options->threads = 2;
        auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world_size, options);
        *out = reinterpret_cast<ct_process_group>(new ProcessGroupHandle{store, group});
    })
}

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
