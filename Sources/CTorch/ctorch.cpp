// ctorch.cpp — the C ABI over libtorch (see include/ctorch.h); c10d is in ctorch_distributed.cpp.
//
// Only translation lives here: each function converts its arguments, calls one libtorch function
// and converts the result. <torch/torch.h> is not included (it pulls in the whole C++ frontend and
// doubles the compile time); ATen and the autograd engine are all the shim needs.
#include "ctorch.h"
#include "ctorch_guard.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/generated/variable_factories.h>
#include <torch/csrc/api/include/torch/version.h>

#include <atomic>
#include <dlfcn.h>
#include <malloc.h>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

thread_local std::string last_error;
std::atomic<int64_t> live_tensors{0};

ct_tensor wrap(at::Tensor tensor) {
    auto *handle = new at::Tensor(std::move(tensor));
    live_tensors.fetch_add(1, std::memory_order_relaxed);
    return reinterpret_cast<ct_tensor>(handle);
}

// A handle that may be absent (NULL) becomes an undefined tensor.
ct_tensor wrap_optional(const at::Tensor &tensor) { return tensor.defined() ? wrap(tensor) : nullptr; }

at::Tensor &T(ct_tensor handle) {
    if (handle == nullptr) throw std::invalid_argument("null tensor handle");
    return *reinterpret_cast<at::Tensor *>(handle);
}

c10::optional<at::Tensor> optional(ct_tensor handle) {
    if (handle == nullptr) return c10::nullopt;
    return T(handle);
}

at::IntArrayRef ints(const int64_t *values, int64_t count) {
    if (count < 0) throw std::invalid_argument("negative array length");
    return at::IntArrayRef(values, static_cast<size_t>(count));
}

at::TensorOptions options(int dtype) { return at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype)); }

std::vector<at::Tensor> tensors(const ct_tensor *handles, int64_t count) {
    std::vector<at::Tensor> result;
    result.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) result.push_back(T(handles[i]));
    return result;
}

// libtorch_cuda is loaded on demand, from the folder of the libtorch_cpu in use, so that one binary
// runs on CPU machines without the CUDA libraries. It must be loaded before anything asks for the
// CUDA hooks (libtorch caches the first answer), so every CUDA query goes through here.
std::once_flag cuda_once;
std::string cuda_error;
void load_cuda() {
    std::call_once(cuda_once, [] {
        std::string path = "libtorch_cuda.so";
        Dl_info info;
        if (dladdr(reinterpret_cast<void *>(&at::globalContext), &info) && info.dli_fname) {
            std::string cpu = info.dli_fname;
            auto slash = cpu.rfind('/');
            if (slash != std::string::npos) path = cpu.substr(0, slash + 1) + path;
        }
        if (!dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
            const char *error = dlerror();
            cuda_error = error ? error : path + ": not loadable";
        }
    });
}

// Drawn from the CPU generator on every device (then copied there), so that one generator state
// covers a run and a seed gives the same draws on every device.
at::Tensor drawn_like(const at::Tensor &like, bool normal) {
    if (like.device().is_cpu()) return normal ? at::randn_like(like) : at::rand_like(like);
    auto options = like.options().device(at::kCPU);
    return (normal ? at::randn(like.sizes(), options) : at::rand(like.sizes(), options)).to(like.device());
}
}  // namespace

// The error channel, shared with the other translation units of the shim.
void ct_set_last_error(const char *message) { last_error = message; }

#define CT_UNARY(name, expression) \
    int ct_##name(ct_tensor t, ct_tensor *out) { CT_GUARD(*out = wrap(expression)) }
#define CT_BINARY(name, expression) \
    int ct_##name(ct_tensor a, ct_tensor b, ct_tensor *out) { CT_GUARD(*out = wrap(expression)) }
#define CT_BINARY_SCALAR(name, expression) \
    int ct_##name(ct_tensor a, double b, ct_tensor *out) { CT_GUARD(*out = wrap(expression)) }

extern "C" {

// ---- errors, ownership, runtime ---------------------------------------------------------------
const char *ct_last_error(void) { return last_error.c_str(); }
int64_t ct_live_tensors(void) { return live_tensors.load(std::memory_order_relaxed); }
void ct_free(ct_tensor t) {
    if (t == nullptr) return;
    delete reinterpret_cast<at::Tensor *>(t);
    live_tensors.fetch_sub(1, std::memory_order_relaxed);
}
int ct_version(const char **out) { CT_GUARD(*out = TORCH_VERSION) }
int ct_build_config(const char **out) {
    CT_GUARD({
        static const std::string config = at::show_config();
        *out = config.c_str();
    })
}
int ct_set_num_threads(int n) { CT_GUARD(at::set_num_threads(n)) }
int ct_retain_freed_memory(int64_t mmap_threshold, int64_t trim_threshold) {
    return mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, (int)trim_threshold) == 1 ? 0 : 1;
}
int ct_get_num_threads(int *out) { CT_GUARD(*out = at::get_num_threads()) }
int ct_manual_seed(uint64_t seed) {
    CT_GUARD({
        auto generator = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(generator.mutex());
        generator.set_current_seed(seed);
    })
}
int ct_get_rng_state(ct_tensor *out) {
    CT_GUARD({
        auto generator = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(generator.mutex());
        *out = wrap(generator.get_state());
    })
}
int ct_set_rng_state(ct_tensor state) {
    CT_GUARD({
        auto generator = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(generator.mutex());
        generator.set_state(T(state));
    })
}
int ct_set_grad_enabled(bool enabled, bool *previous) {
    CT_GUARD({
        *previous = at::GradMode::is_enabled();
        at::GradMode::set_enabled(enabled);
    })
}
int ct_is_grad_enabled(bool *out) { CT_GUARD(*out = at::GradMode::is_enabled()) }
int ct_load_cuda(void) {
    CT_GUARD({
        load_cuda();
        if (!cuda_error.empty()) throw std::runtime_error(cuda_error);
    })
}
int ct_cuda_device_count(int64_t *out) {
    CT_GUARD({
        load_cuda();
        *out = cuda_error.empty() && at::globalContext().hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0;
    })
}
int ct_set_deterministic(bool enabled) {
    CT_GUARD({
        at::globalContext().setDeterministicAlgorithms(enabled, false);
        at::globalContext().setDeterministicCuDNN(enabled);
        if (enabled) at::globalContext().setBenchmarkCuDNN(false);
    })
}

// ---- metadata and data access -----------------------------------------------------------------
int ct_dim(ct_tensor t, int64_t *out) { CT_GUARD(*out = T(t).dim()) }
int ct_sizes(ct_tensor t, int64_t *out, int64_t capacity) {
    CT_GUARD({
        auto sizes = T(t).sizes();
        if (static_cast<int64_t>(sizes.size()) > capacity) throw std::invalid_argument("sizes buffer too small");
        std::copy(sizes.begin(), sizes.end(), out);
    })
}
int ct_numel(ct_tensor t, int64_t *out) { CT_GUARD(*out = T(t).numel()) }
int ct_dtype(ct_tensor t, int *out) { CT_GUARD(*out = static_cast<int>(T(t).scalar_type())) }
int ct_device(ct_tensor t, int *type, int64_t *index) {
    CT_GUARD({
        auto device = T(t).device();
        *type = static_cast<int>(device.type());
        *index = device.index();
    })
}
int ct_requires_grad(ct_tensor t, bool *out) { CT_GUARD(*out = T(t).requires_grad()) }
int ct_set_requires_grad(ct_tensor t, bool enabled) { CT_GUARD(T(t).requires_grad_(enabled)) }
int ct_is_leaf(ct_tensor t, bool *out) { CT_GUARD(*out = T(t).is_leaf()) }
int ct_from_data(const void *data, const int64_t *shape, int64_t ndim, int dtype, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::from_blob(const_cast<void *>(data), ints(shape, ndim), options(dtype)).clone()))
}
int ct_copy_data(ct_tensor t, void *destination, size_t nbytes) {
    CT_GUARD({
        at::Tensor source = T(t).detach().to(at::kCPU).contiguous();
        size_t size = static_cast<size_t>(source.numel()) * source.element_size();
        if (size != nbytes) throw std::invalid_argument("destination holds " + std::to_string(nbytes) +
                                                        " bytes but the tensor has " + std::to_string(size));
        if (size > 0) std::memcpy(destination, source.data_ptr(), size);
    })
}
int ct_item(ct_tensor t, double *out) { CT_GUARD(*out = T(t).item<double>()) }
int ct_to_dtype(ct_tensor t, int dtype, ct_tensor *out) {
    CT_GUARD(*out = wrap(T(t).to(static_cast<at::ScalarType>(dtype))))
}
int ct_to_device(ct_tensor t, int type, int64_t index, ct_tensor *out) {
    CT_GUARD(*out = wrap(T(t).to(at::Device(static_cast<at::DeviceType>(type), static_cast<c10::DeviceIndex>(index)))))
}
int ct_shallow_clone(ct_tensor t, ct_tensor *out) { CT_GUARD(*out = wrap(T(t))) }
int ct_set_data(ct_tensor t, ct_tensor source) { CT_GUARD(T(t).set_data(T(source))) }
CT_UNARY(clone, T(t).clone())
CT_UNARY(detach, T(t).detach())
CT_UNARY(contiguous, T(t).contiguous())
CT_UNARY(channels_last, T(t).contiguous(at::MemoryFormat::ChannelsLast))

// ---- creation ---------------------------------------------------------------------------------
int ct_zeros(const int64_t *shape, int64_t ndim, int dtype, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::zeros(ints(shape, ndim), options(dtype))))
}
int ct_ones(const int64_t *shape, int64_t ndim, int dtype, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::ones(ints(shape, ndim), options(dtype))))
}
int ct_full(const int64_t *shape, int64_t ndim, double value, int dtype, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::full(ints(shape, ndim), value, options(dtype))))
}
int ct_rand(const int64_t *shape, int64_t ndim, int dtype, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::rand(ints(shape, ndim), options(dtype))))
}
int ct_randn(const int64_t *shape, int64_t ndim, int dtype, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::randn(ints(shape, ndim), options(dtype))))
}
int ct_randint(int64_t low, int64_t high, const int64_t *shape, int64_t ndim, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::randint(low, high, ints(shape, ndim), options(static_cast<int>(at::kLong)))))
}
int ct_randperm(int64_t n, ct_tensor *out) { CT_GUARD(*out = wrap(at::randperm(n, options(static_cast<int>(at::kLong))))) }
int ct_arange(double start, double end, double step, int dtype, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::arange(start, end, step, options(dtype))))
}
int ct_scalar_tensor(double value, int dtype, ct_tensor *out) { CT_GUARD(*out = wrap(at::scalar_tensor(value, options(dtype)))) }
int ct_eye(int64_t n, int dtype, ct_tensor *out) { CT_GUARD(*out = wrap(at::eye(n, options(dtype)))) }
CT_UNARY(zeros_like, at::zeros_like(T(t)))
CT_UNARY(ones_like, at::ones_like(T(t)))
CT_UNARY(rand_like, drawn_like(T(t), false))
CT_UNARY(randn_like, drawn_like(T(t), true))

// ---- shape and indexing -----------------------------------------------------------------------
int ct_reshape(ct_tensor t, const int64_t *shape, int64_t ndim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).reshape(ints(shape, ndim)))) }
int ct_view(ct_tensor t, const int64_t *shape, int64_t ndim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).view(ints(shape, ndim)))) }
int ct_permute(ct_tensor t, const int64_t *dims, int64_t ndim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).permute(ints(dims, ndim)))) }
int ct_transpose(ct_tensor t, int64_t dim0, int64_t dim1, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).transpose(dim0, dim1))) }
int ct_expand(ct_tensor t, const int64_t *shape, int64_t ndim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).expand(ints(shape, ndim)))) }
int ct_repeat(ct_tensor t, const int64_t *repeats, int64_t ndim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).repeat(ints(repeats, ndim)))) }
int ct_squeeze(ct_tensor t, int64_t dim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).squeeze(dim))) }
int ct_unsqueeze(ct_tensor t, int64_t dim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).unsqueeze(dim))) }
int ct_flatten(ct_tensor t, int64_t start_dim, int64_t end_dim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).flatten(start_dim, end_dim))) }
int ct_slice(ct_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step, ct_tensor *out) {
    CT_GUARD(*out = wrap(T(t).slice(dim, start, end, step)))
}
int ct_select(ct_tensor t, int64_t dim, int64_t index, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).select(dim, index))) }
int ct_index_select(ct_tensor t, int64_t dim, ct_tensor index, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).index_select(dim, T(index)))) }
int ct_gather(ct_tensor t, int64_t dim, ct_tensor index, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).gather(dim, T(index)))) }
int ct_masked_select(ct_tensor t, ct_tensor mask, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).masked_select(T(mask)))) }
int ct_masked_fill(ct_tensor t, ct_tensor mask, double value, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).masked_fill(T(mask), value))) }
int ct_cat(const ct_tensor *handles, int64_t count, int64_t dim, ct_tensor *out) { CT_GUARD(*out = wrap(at::cat(tensors(handles, count), dim))) }
int ct_stack(const ct_tensor *handles, int64_t count, int64_t dim, ct_tensor *out) { CT_GUARD(*out = wrap(at::stack(tensors(handles, count), dim))) }
int ct_flip(ct_tensor t, const int64_t *dims, int64_t ndim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).flip(ints(dims, ndim)))) }
int ct_roll(ct_tensor t, const int64_t *shifts, const int64_t *dims, int64_t ndim, ct_tensor *out) {
    CT_GUARD(*out = wrap(T(t).roll(ints(shifts, ndim), ints(dims, ndim))))
}
int ct_constant_pad(ct_tensor t, const int64_t *pads, int64_t npads, double value, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::constant_pad_nd(T(t), ints(pads, npads), value)))
}
int ct_one_hot(ct_tensor t, int64_t classes, ct_tensor *out) { CT_GUARD(*out = wrap(at::one_hot(T(t), classes))) }
CT_UNARY(nonzero, T(t).nonzero())

// ---- elementwise binary -----------------------------------------------------------------------
CT_BINARY(add, T(a) + T(b))
CT_BINARY(sub, T(a) - T(b))
CT_BINARY(mul, T(a) * T(b))
CT_BINARY(div, T(a) / T(b))
CT_BINARY(pow, T(a).pow(T(b)))
CT_BINARY(maximum, at::maximum(T(a), T(b)))
CT_BINARY(minimum, at::minimum(T(a), T(b)))
CT_BINARY(matmul, at::matmul(T(a), T(b)))
CT_BINARY(eq, T(a).eq(T(b)))
CT_BINARY(ne, T(a).ne(T(b)))
CT_BINARY(lt, T(a).lt(T(b)))
CT_BINARY(le, T(a).le(T(b)))
CT_BINARY(gt, T(a).gt(T(b)))
CT_BINARY(ge, T(a).ge(T(b)))
CT_BINARY(logical_and, T(a).logical_and(T(b)))
CT_BINARY(logical_or, T(a).logical_or(T(b)))
CT_BINARY_SCALAR(add_scalar, T(a) + b)
CT_BINARY_SCALAR(sub_scalar, T(a) - b)
CT_BINARY_SCALAR(rsub_scalar, b - T(a))
CT_BINARY_SCALAR(mul_scalar, T(a) * b)
CT_BINARY_SCALAR(div_scalar, T(a) / b)
CT_BINARY_SCALAR(rdiv_scalar, b / T(a))
CT_BINARY_SCALAR(pow_scalar, T(a).pow(b))
CT_BINARY_SCALAR(eq_scalar, T(a).eq(b))
CT_BINARY_SCALAR(ne_scalar, T(a).ne(b))
CT_BINARY_SCALAR(lt_scalar, T(a).lt(b))
CT_BINARY_SCALAR(le_scalar, T(a).le(b))
CT_BINARY_SCALAR(gt_scalar, T(a).gt(b))
CT_BINARY_SCALAR(ge_scalar, T(a).ge(b))
int ct_where(ct_tensor condition, ct_tensor a, ct_tensor b, ct_tensor *out) { CT_GUARD(*out = wrap(at::where(T(condition), T(a), T(b)))) }

// ---- elementwise unary ------------------------------------------------------------------------
CT_UNARY(neg, T(t).neg())
CT_UNARY(abs, T(t).abs())
CT_UNARY(sign, T(t).sign())
CT_UNARY(exp, T(t).exp())
CT_UNARY(log, T(t).log())
CT_UNARY(log1p, T(t).log1p())
CT_UNARY(sqrt, T(t).sqrt())
CT_UNARY(square, T(t).square())
CT_UNARY(reciprocal, T(t).reciprocal())
CT_UNARY(floor, T(t).floor())
CT_UNARY(round, T(t).round())
CT_UNARY(relu, T(t).relu())
CT_UNARY(tanh, T(t).tanh())
CT_UNARY(sigmoid, T(t).sigmoid())
CT_UNARY(sin, T(t).sin())
CT_UNARY(cos, T(t).cos())
CT_UNARY(logical_not, T(t).logical_not())
CT_UNARY(isfinite, T(t).isfinite())
CT_UNARY(isnan, T(t).isnan())
int ct_leaky_relu(ct_tensor t, double slope, ct_tensor *out) { CT_GUARD(*out = wrap(at::leaky_relu(T(t), slope))) }
int ct_softplus(ct_tensor t, double beta, double threshold, ct_tensor *out) { CT_GUARD(*out = wrap(at::softplus(T(t), beta, threshold))) }
int ct_clamp(ct_tensor t, bool has_min, double min, bool has_max, double max, ct_tensor *out) {
    CT_GUARD({
        c10::optional<at::Scalar> low = has_min ? c10::optional<at::Scalar>(min) : c10::nullopt;
        c10::optional<at::Scalar> high = has_max ? c10::optional<at::Scalar>(max) : c10::nullopt;
        *out = wrap(at::clamp(T(t), low, high));
    })
}
int ct_clamp_tensor(ct_tensor t, ct_tensor min, ct_tensor max, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::clamp(T(t), optional(min), optional(max))))
}
int ct_softmax(ct_tensor t, int64_t dim, ct_tensor *out) { CT_GUARD(*out = wrap(at::softmax(T(t), dim))) }
int ct_log_softmax(ct_tensor t, int64_t dim, ct_tensor *out) { CT_GUARD(*out = wrap(at::log_softmax(T(t), dim))) }

// ---- reductions -------------------------------------------------------------------------------
CT_UNARY(sum, T(t).sum())
CT_UNARY(mean, T(t).mean())
CT_UNARY(max, T(t).max())
CT_UNARY(min, T(t).min())
CT_UNARY(all, T(t).all())
CT_UNARY(any, T(t).any())
CT_UNARY(logdet, at::logdet(T(t)))
int ct_sum_dims(ct_tensor t, const int64_t *dims, int64_t ndims, bool keepdim, ct_tensor *out) {
    CT_GUARD(*out = wrap(T(t).sum(ints(dims, ndims), keepdim)))
}
int ct_mean_dims(ct_tensor t, const int64_t *dims, int64_t ndims, bool keepdim, ct_tensor *out) {
    CT_GUARD(*out = wrap(T(t).mean(ints(dims, ndims), keepdim)))
}
int ct_max_dim(ct_tensor t, int64_t dim, bool keepdim, ct_tensor *values, ct_tensor *indices) {
    CT_GUARD({
        auto result = T(t).max(dim, keepdim);
        *values = wrap(std::get<0>(result));
        *indices = wrap(std::get<1>(result));
    })
}
int ct_min_dim(ct_tensor t, int64_t dim, bool keepdim, ct_tensor *values, ct_tensor *indices) {
    CT_GUARD({
        auto result = T(t).min(dim, keepdim);
        *values = wrap(std::get<0>(result));
        *indices = wrap(std::get<1>(result));
    })
}
int ct_argmax(ct_tensor t, int64_t dim, bool keepdim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).argmax(dim, keepdim))) }
int ct_argmin(ct_tensor t, int64_t dim, bool keepdim, ct_tensor *out) { CT_GUARD(*out = wrap(T(t).argmin(dim, keepdim))) }
int ct_norm(ct_tensor t, double p, const int64_t *dims, int64_t ndims, bool keepdim, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::norm(T(t), p, ints(dims, ndims), keepdim)))
}
int ct_logsumexp(ct_tensor t, const int64_t *dims, int64_t ndims, bool keepdim, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::logsumexp(T(t), ints(dims, ndims), keepdim)))
}
int ct_var(ct_tensor t, const int64_t *dims, int64_t ndims, bool unbiased, bool keepdim, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::var(T(t), ints(dims, ndims), unbiased, keepdim)))
}
int ct_topk(ct_tensor t, int64_t k, int64_t dim, bool largest, bool sorted, ct_tensor *values, ct_tensor *indices) {
    CT_GUARD({
        auto result = at::topk(T(t), k, dim, largest, sorted);
        *values = wrap(std::get<0>(result));
        *indices = wrap(std::get<1>(result));
    })
}
int ct_sort(ct_tensor t, int64_t dim, bool descending, ct_tensor *values, ct_tensor *indices) {
    CT_GUARD({
        auto result = at::sort(T(t), dim, descending);
        *values = wrap(std::get<0>(result));
        *indices = wrap(std::get<1>(result));
    })
}
int ct_cumsum(ct_tensor t, int64_t dim, ct_tensor *out) { CT_GUARD(*out = wrap(at::cumsum(T(t), dim))) }

// ---- losses and similarities ------------------------------------------------------------------
int ct_cross_entropy(ct_tensor logits, ct_tensor targets, int64_t reduction, double label_smoothing, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::cross_entropy_loss(T(logits), T(targets), {}, reduction, -100, label_smoothing)))
}
int ct_nll_loss(ct_tensor log_probs, ct_tensor targets, int64_t reduction, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::nll_loss(T(log_probs), T(targets), {}, reduction)))
}
int ct_mse_loss(ct_tensor a, ct_tensor b, int64_t reduction, ct_tensor *out) { CT_GUARD(*out = wrap(at::mse_loss(T(a), T(b), reduction))) }
int ct_cosine_similarity(ct_tensor a, ct_tensor b, int64_t dim, double eps, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::cosine_similarity(T(a), T(b), dim, eps)))
}

// ---- neural-network functions -----------------------------------------------------------------
int ct_conv2d(ct_tensor input, ct_tensor weight, ct_tensor bias, const int64_t *stride, const int64_t *padding,
              const int64_t *dilation, int64_t groups, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::conv2d(T(input), T(weight), optional(bias), ints(stride, 2), ints(padding, 2),
                                    ints(dilation, 2), groups)))
}
int ct_linear(ct_tensor input, ct_tensor weight, ct_tensor bias, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::linear(T(input), T(weight), optional(bias))))
}
int ct_batch_norm(ct_tensor input, ct_tensor weight, ct_tensor bias, ct_tensor running_mean, ct_tensor running_var,
                  bool training, double momentum, double eps, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::batch_norm(T(input), optional(weight), optional(bias), optional(running_mean),
                                        optional(running_var), training, momentum, eps, /*cudnn_enabled=*/true)))
}
int ct_max_pool2d(ct_tensor input, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                  bool ceil_mode, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::max_pool2d(T(input), ints(kernel, 2), ints(stride, 2), ints(padding, 2), {1, 1}, ceil_mode)))
}
int ct_avg_pool2d(ct_tensor input, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                  bool ceil_mode, bool count_include_pad, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::avg_pool2d(T(input), ints(kernel, 2), ints(stride, 2), ints(padding, 2), ceil_mode,
                                        count_include_pad)))
}
int ct_adaptive_avg_pool2d(ct_tensor input, const int64_t *output_size, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::adaptive_avg_pool2d(T(input), ints(output_size, 2))))
}
int ct_dropout(ct_tensor input, double p, bool training, ct_tensor *out) { CT_GUARD(*out = wrap(at::dropout(T(input), p, training))) }
int ct_upsample_nearest2d(ct_tensor input, const int64_t *output_size, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::upsample_nearest2d(T(input), ints(output_size, 2))))
}
int ct_upsample_bilinear2d(ct_tensor input, const int64_t *output_size, bool align_corners, ct_tensor *out) {
    CT_GUARD(*out = wrap(at::upsample_bilinear2d(T(input), ints(output_size, 2), align_corners)))
}

// ---- in place ---------------------------------------------------------------------------------
int ct_copy_(ct_tensor t, ct_tensor source) { CT_GUARD(T(t).copy_(T(source))) }
int ct_zero_(ct_tensor t) { CT_GUARD(T(t).zero_()) }
int ct_fill_(ct_tensor t, double value) { CT_GUARD(T(t).fill_(value)) }
int ct_uniform_(ct_tensor t, double low, double high) { CT_GUARD(T(t).uniform_(low, high)) }
int ct_normal_(ct_tensor t, double mean, double std) { CT_GUARD(T(t).normal_(mean, std)) }
int ct_add_(ct_tensor t, ct_tensor other, double alpha) { CT_GUARD(T(t).add_(T(other), alpha)) }
int ct_mul_(ct_tensor t, ct_tensor other) { CT_GUARD(T(t).mul_(T(other))) }
int ct_mul_scalar_(ct_tensor t, double value) { CT_GUARD(T(t).mul_(value)) }
int ct_add_scalar_(ct_tensor t, double value) { CT_GUARD(T(t).add_(value)) }
int ct_div_(ct_tensor t, ct_tensor other) { CT_GUARD(T(t).div_(T(other))) }
int ct_addcmul_(ct_tensor t, ct_tensor a, ct_tensor b, double value) { CT_GUARD(T(t).addcmul_(T(a), T(b), value)) }
int ct_addcdiv_(ct_tensor t, ct_tensor a, ct_tensor b, double value) { CT_GUARD(T(t).addcdiv_(T(a), T(b), value)) }
int ct_clamp_(ct_tensor t, double min, double max) { CT_GUARD(T(t).clamp_(min, max)) }

// ---- autograd ---------------------------------------------------------------------------------
int ct_backward(ct_tensor t, ct_tensor gradient, bool retain_graph, bool create_graph) {
    CT_GUARD(T(t).backward(gradient ? T(gradient) : at::Tensor(), retain_graph, create_graph))
}
int ct_backward_to(const ct_tensor *roots, const ct_tensor *gradients, int64_t nroots, const ct_tensor *inputs,
                   int64_t ninputs) {
    CT_GUARD({
        std::vector<at::Tensor> seeds;
        for (int64_t i = 0; i < nroots; ++i) seeds.push_back(gradients[i] ? T(gradients[i]) : at::Tensor());
        torch::autograd::backward(tensors(roots, nroots), seeds, c10::nullopt, false, tensors(inputs, ninputs));
    })
}
int ct_grad(ct_tensor t, ct_tensor *out) { CT_GUARD(*out = wrap_optional(T(t).grad())) }
int ct_set_grad(ct_tensor t, ct_tensor gradient) { CT_GUARD(T(t).mutable_grad() = gradient ? T(gradient) : at::Tensor()) }
int ct_autograd_grad(const ct_tensor *outputs, const ct_tensor *grad_outputs, int64_t noutputs,
                     const ct_tensor *inputs, int64_t ninputs, int retain_graph, bool create_graph,
                     bool allow_unused, ct_tensor *out) {
    CT_GUARD({
        std::vector<at::Tensor> seeds;
        if (grad_outputs != nullptr) {
            for (int64_t i = 0; i < noutputs; ++i) seeds.push_back(grad_outputs[i] ? T(grad_outputs[i]) : at::Tensor());
        }
        c10::optional<bool> retain = retain_graph < 0 ? c10::nullopt : c10::optional<bool>(retain_graph != 0);
        auto result = torch::autograd::grad(tensors(outputs, noutputs), tensors(inputs, ninputs), seeds, retain,
                                            create_graph, allow_unused);
        for (int64_t i = 0; i < ninputs; ++i) out[i] = wrap_optional(result[static_cast<size_t>(i)]);
    })
}

}  // extern "C"
