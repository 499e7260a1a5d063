/*
 * ctorch.h — a C ABI over libtorch (the PyTorch C++ library).
 *
 * Conventions (after tch-rs's torch-sys and mlx-c):
 *  - Tensors are opaque handles (`ct_tensor`). A handle returned through an out-parameter is owned
 *    by the caller and released exactly once with `ct_free`. `ct_live_tensors` counts live handles.
 *  - Every function except `ct_free`, `ct_last_error` and `ct_live_tensors` returns 0 on success
 *    and 1 on failure; on failure the thread-local `ct_last_error` holds libtorch's message and no
 *    out-parameter is written. No C++ exception crosses this boundary.
 *  - An optional tensor argument (a bias, a gradient output) is passed as NULL when absent; an
 *    optional tensor result (an undefined gradient) comes back as NULL.
 *  - dtype codes are c10::ScalarType values (uint8 0, int8 1, int16 2, int32 3, int64 4,
 *    float16 5, float32 6, float64 7, bool 11, bfloat16 15).
 *  - Reductions take `reduction` 0 = none, 1 = mean, 2 = sum (at::Reduction).
 *  - The shim translates only: no logic beyond argument conversion.
 */
#ifndef CTORCH_H
#define CTORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_tensor_s *ct_tensor;

/* ---- errors, ownership, runtime ---------------------------------------------------------- */
const char *ct_last_error(void);
int64_t ct_live_tensors(void);
void ct_free(ct_tensor t);
int ct_version(const char **out);
/* at::show_config(): how libtorch was built and which CPU kernels it uses (a process-wide string). */
int ct_build_config(const char **out);
int ct_set_num_threads(int n);
/* glibc allocator: mallopt(M_MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD); 0 on success. */
int ct_retain_freed_memory(int64_t mmap_threshold, int64_t trim_threshold);
int ct_get_num_threads(int *out);
int ct_manual_seed(uint64_t seed);
int ct_get_rng_state(ct_tensor *out);
int ct_set_rng_state(ct_tensor state);
int ct_set_grad_enabled(bool enabled, bool *previous);
int ct_is_grad_enabled(bool *out);
/* Loads libtorch_cuda from the folder of the libtorch in use (once); 1 with the loader's message when
 * it cannot (a CPU-only libtorch, missing CUDA libraries). */
int ct_load_cuda(void);
/* CUDA devices visible (0 when libtorch_cuda cannot be loaded or no GPU is present). */
int ct_cuda_device_count(int64_t *out);
/* libtorch's deterministic algorithms (and cuDNN's deterministic mode, without autotuning). */
int ct_set_deterministic(bool enabled);

/* ---- metadata and data access ------------------------------------------------------------- */
int ct_dim(ct_tensor t, int64_t *out);
int ct_sizes(ct_tensor t, int64_t *out, int64_t capacity);
int ct_numel(ct_tensor t, int64_t *out);
int ct_dtype(ct_tensor t, int *out);
int ct_device(ct_tensor t, int *type, int64_t *index);
int ct_requires_grad(ct_tensor t, bool *out);
int ct_set_requires_grad(ct_tensor t, bool enabled);
int ct_is_leaf(ct_tensor t, bool *out);
int ct_from_data(const void *data, const int64_t *shape, int64_t ndim, int dtype, ct_tensor *out);
int ct_copy_data(ct_tensor t, void *destination, size_t nbytes);
int ct_item(ct_tensor t, double *out);
int ct_to_dtype(ct_tensor t, int dtype, ct_tensor *out);
int ct_to_device(ct_tensor t, int type, int64_t index, ct_tensor *out);
int ct_shallow_clone(ct_tensor t, ct_tensor *out);
/* Points `t` at `source`'s data (Tensor::set_data): moves a parameter to another device in place. */
int ct_set_data(ct_tensor t, ct_tensor source);
int ct_clone(ct_tensor t, ct_tensor *out);
int ct_detach(ct_tensor t, ct_tensor *out);
int ct_contiguous(ct_tensor t, ct_tensor *out);
int ct_channels_last(ct_tensor t, ct_tensor *out);

/* ---- creation ----------------------------------------------------------------------------- */
int ct_zeros(const int64_t *shape, int64_t ndim, int dtype, ct_tensor *out);
int ct_ones(const int64_t *shape, int64_t ndim, int dtype, ct_tensor *out);
int ct_full(const int64_t *shape, int64_t ndim, double value, int dtype, ct_tensor *out);
int ct_rand(const int64_t *shape, int64_t ndim, int dtype, ct_tensor *out);
int ct_randn(const int64_t *shape, int64_t ndim, int dtype, ct_tensor *out);
int ct_randint(int64_t low, int64_t high, const int64_t *shape, int64_t ndim, ct_tensor *out);
int ct_randperm(int64_t n, ct_tensor *out);
int ct_arange(double start, double end, double step, int dtype, ct_tensor *out);
int ct_scalar_tensor(double value, int dtype, ct_tensor *out);
int ct_eye(int64_t n, int dtype, ct_tensor *out);
int ct_zeros_like(ct_tensor t, ct_tensor *out);
int ct_ones_like(ct_tensor t, ct_tensor *out);
int ct_rand_like(ct_tensor t, ct_tensor *out);
int ct_randn_like(ct_tensor t, ct_tensor *out);

/* ---- shape and indexing ------------------------------------------------------------------- */
int ct_reshape(ct_tensor t, const int64_t *shape, int64_t ndim, ct_tensor *out);
int ct_view(ct_tensor t, const int64_t *shape, int64_t ndim, ct_tensor *out);
int ct_permute(ct_tensor t, const int64_t *dims, int64_t ndim, ct_tensor *out);
int ct_transpose(ct_tensor t, int64_t dim0, int64_t dim1, ct_tensor *out);
int ct_expand(ct_tensor t, const int64_t *shape, int64_t ndim, ct_tensor *out);
int ct_repeat(ct_tensor t, const int64_t *repeats, int64_t ndim, ct_tensor *out);
int ct_squeeze(ct_tensor t, int64_t dim, ct_tensor *out);
int ct_unsqueeze(ct_tensor t, int64_t dim, ct_tensor *out);
int ct_flatten(ct_tensor t, int64_t start_dim, int64_t end_dim, ct_tensor *out);
int ct_slice(ct_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step, ct_tensor *out);
int ct_select(ct_tensor t, int64_t dim, int64_t index, ct_tensor *out);
int ct_index_select(ct_tensor t, int64_t dim, ct_tensor index, ct_tensor *out);
int ct_gather(ct_tensor t, int64_t dim, ct_tensor index, ct_tensor *out);
int ct_masked_select(ct_tensor t, ct_tensor mask, ct_tensor *out);
int ct_masked_fill(ct_tensor t, ct_tensor mask, double value, ct_tensor *out);
int ct_cat(const ct_tensor *tensors, int64_t count, int64_t dim, ct_tensor *out);
int ct_stack(const ct_tensor *tensors, int64_t count, int64_t dim, ct_tensor *out);
int ct_flip(ct_tensor t, const int64_t *dims, int64_t ndim, ct_tensor *out);
int ct_roll(ct_tensor t, const int64_t *shifts, const int64_t *dims, int64_t ndim, ct_tensor *out);
int ct_constant_pad(ct_tensor t, const int64_t *pads, int64_t npads, double value, ct_tensor *out);
int ct_one_hot(ct_tensor t, int64_t classes, ct_tensor *out);
int ct_nonzero(ct_tensor t, ct_tensor *out);

/* ---- elementwise binary (tensor op tensor, and tensor op scalar) -------------------------- */
int ct_add(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_sub(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_mul(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_div(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_pow(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_maximum(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_minimum(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_matmul(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_eq(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_ne(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_lt(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_le(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_gt(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_ge(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_logical_and(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_logical_or(ct_tensor a, ct_tensor b, ct_tensor *out);
int ct_add_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_sub_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_rsub_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_mul_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_div_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_rdiv_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_pow_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_eq_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_ne_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_lt_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_le_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_gt_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_ge_scalar(ct_tensor a, double b, ct_tensor *out);
int ct_where(ct_tensor condition, ct_tensor a, ct_tensor b, ct_tensor *out);

/* ---- elementwise unary -------------------------------------------------------------------- */
int ct_neg(ct_tensor t, ct_tensor *out);
int ct_abs(ct_tensor t, ct_tensor *out);
int ct_sign(ct_tensor t, ct_tensor *out);
int ct_exp(ct_tensor t, ct_tensor *out);
int ct_log(ct_tensor t, ct_tensor *out);
int ct_log1p(ct_tensor t, ct_tensor *out);
int ct_sqrt(ct_tensor t, ct_tensor *out);
int ct_square(ct_tensor t, ct_tensor *out);
int ct_reciprocal(ct_tensor t, ct_tensor *out);
int ct_floor(ct_tensor t, ct_tensor *out);
int ct_round(ct_tensor t, ct_tensor *out);
int ct_relu(ct_tensor t, ct_tensor *out);
int ct_tanh(ct_tensor t, ct_tensor *out);
int ct_sigmoid(ct_tensor t, ct_tensor *out);
int ct_sin(ct_tensor t, ct_tensor *out);
int ct_cos(ct_tensor t, ct_tensor *out);
int ct_logical_not(ct_tensor t, ct_tensor *out);
int ct_isfinite(ct_tensor t, ct_tensor *out);
int ct_isnan(ct_tensor t, ct_tensor *out);
int ct_leaky_relu(ct_tensor t, double slope, ct_tensor *out);
int ct_softplus(ct_tensor t, double beta, double threshold, ct_tensor *out);
int ct_clamp(ct_tensor t, bool has_min, double min, bool has_max, double max, ct_tensor *out);
int ct_clamp_tensor(ct_tensor t, ct_tensor min, ct_tensor max, ct_tensor *out);
int ct_softmax(ct_tensor t, int64_t dim, ct_tensor *out);
int ct_log_softmax(ct_tensor t, int64_t dim, ct_tensor *out);

/* ---- reductions --------------------------------------------------------------------------- */
int ct_sum(ct_tensor t, ct_tensor *out);
int ct_sum_dims(ct_tensor t, const int64_t *dims, int64_t ndims, bool keepdim, ct_tensor *out);
int ct_mean(ct_tensor t, ct_tensor *out);
int ct_mean_dims(ct_tensor t, const int64_t *dims, int64_t ndims, bool keepdim, ct_tensor *out);
int ct_max(ct_tensor t, ct_tensor *out);
int ct_min(ct_tensor t, ct_tensor *out);
int ct_max_dim(ct_tensor t, int64_t dim, bool keepdim, ct_tensor *values, ct_tensor *indices);
int ct_min_dim(ct_tensor t, int64_t dim, bool keepdim, ct_tensor *values, ct_tensor *indices);
int ct_argmax(ct_tensor t, int64_t dim, bool keepdim, ct_tensor *out);
int ct_argmin(ct_tensor t, int64_t dim, bool keepdim, ct_tensor *out);
int ct_norm(ct_tensor t, double p, const int64_t *dims, int64_t ndims, bool keepdim, ct_tensor *out);
int ct_logsumexp(ct_tensor t, const int64_t *dims, int64_t ndims, bool keepdim, ct_tensor *out);
int ct_var(ct_tensor t, const int64_t *dims, int64_t ndims, bool unbiased, bool keepdim, ct_tensor *out);
int ct_all(ct_tensor t, ct_tensor *out);
int ct_any(ct_tensor t, ct_tensor *out);
int ct_topk(ct_tensor t, int64_t k, int64_t dim, bool largest, bool sorted, ct_tensor *values, ct_tensor *indices);
int ct_sort(ct_tensor t, int64_t dim, bool descending, ct_tensor *values, ct_tensor *indices);
int ct_cumsum(ct_tensor t, int64_t dim, ct_tensor *out);
int ct_logdet(ct_tensor t, ct_tensor *out);

/* ---- losses and similarities -------------------------------------------------------------- */
int ct_cross_entropy(ct_tensor logits, ct_tensor targets, int64_t reduction, double label_smoothing, ct_tensor *out);
int ct_nll_loss(ct_tensor log_probs, ct_tensor targets, int64_t reduction, ct_tensor *out);
int ct_mse_loss(ct_tensor a, ct_tensor b, int64_t reduction, ct_tensor *out);
int ct_cosine_similarity(ct_tensor a, ct_tensor b, int64_t dim, double eps, ct_tensor *out);

/* ---- neural-network functions ------------------------------------------------------------- */
int ct_conv2d(ct_tensor input, ct_tensor weight, ct_tensor bias, const int64_t *stride, const int64_t *padding,
              const int64_t *dilation, int64_t groups, ct_tensor *out);
int ct_linear(ct_tensor input, ct_tensor weight, ct_tensor bias, ct_tensor *out);
int ct_batch_norm(ct_tensor input, ct_tensor weight, ct_tensor bias, ct_tensor running_mean, ct_tensor running_var,
                  bool training, double momentum, double eps, ct_tensor *out);
int ct_max_pool2d(ct_tensor input, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                  bool ceil_mode, ct_tensor *out);
int ct_avg_pool2d(ct_tensor input, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                  bool ceil_mode, bool count_include_pad, ct_tensor *out);
int ct_adaptive_avg_pool2d(ct_tensor input, const int64_t *output_size, ct_tensor *out);
int ct_dropout(ct_tensor input, double p, bool training, ct_tensor *out);
int ct_upsample_nearest2d(ct_tensor input, const int64_t *output_size, ct_tensor *out);
int ct_upsample_bilinear2d(ct_tensor input, const int64_t *output_size, bool align_corners, ct_tensor *out);

/* ---- in place (for optimizers and initialisers, under no-grad) ---------------------------- */
int ct_copy_(ct_tensor t, ct_tensor source);
int ct_zero_(ct_tensor t);
int ct_fill_(ct_tensor t, double value);
int ct_uniform_(ct_tensor t, double low, double high);
int ct_normal_(ct_tensor t, double mean, double std);
int ct_add_(ct_tensor t, ct_tensor other, double alpha);
int ct_mul_(ct_tensor t, ct_tensor other);
int ct_mul_scalar_(ct_tensor t, double value);
int ct_add_scalar_(ct_tensor t, double value);
int ct_div_(ct_tensor t, ct_tensor other);
int ct_addcmul_(ct_tensor t, ct_tensor a, ct_tensor b, double value);
int ct_addcdiv_(ct_tensor t, ct_tensor a, ct_tensor b, double value);
int ct_clamp_(ct_tensor t, double min, double max);

/* ---- autograd ----------------------------------------------------------------------------- */
int ct_backward(ct_tensor t, ct_tensor gradient, bool retain_graph, bool create_graph);
/* torch::autograd::backward(roots, gradients, inputs): accumulates into the `grad` of `inputs`
 * only (a NULL gradient means ones for a one-element root); the graph is freed. */
int ct_backward_to(const ct_tensor *roots, const ct_tensor *gradients, int64_t nroots, const ct_tensor *inputs,
                   int64_t ninputs);
int ct_grad(ct_tensor t, ct_tensor *out);
int ct_set_grad(ct_tensor t, ct_tensor gradient);
int ct_autograd_grad(const ct_tensor *outputs, const ct_tensor *grad_outputs, int64_t noutputs,
                     const ct_tensor *inputs, int64_t ninputs, int retain_graph, bool create_graph,
                     bool allow_unused, ct_tensor *out);

/* ---- distributed: PyTorch's c10d (TCPStore rendezvous, ProcessGroupGloo or ProcessGroupNCCL) -- */
typedef struct ct_process_group_s *ct_process_group;

/* Rank 0 hosts the TCPStore at master_addr:port; every rank connects to it. The Gloo transport binds
   to `interface` when given, else to the address `hostname`, else (both NULL) to the address this
   machine's hostname resolves to, as PyTorch does. Collectives fail (status 1) after timeout_ms
   without progress, e.g. when a peer died. */
int ct_process_group_create(const char *master_addr, int port, int rank, int world_size, int64_t timeout_ms,
                            const char *interface, const char *hostname, ct_process_group *out);
/* The same rendezvous, then c10d's ProcessGroupNCCL on CUDA device `device_index`, made by the NCCL
   plug-in at plugin_path (libedlcm_nccl.so: built against this libtorch, see scripts/nccl-plugin.sh);
   libtorch's CUDA library is loaded first. Collectives then take tensors on that device. Fails (status
   1, a message naming the cause) on libtorch 1.x, without CUDA, or when the plug-in is missing or was
   built for another torch. */
/* 1 when this build can make NCCL process groups at all (libtorch 2.x), else 0. */
int ct_process_group_nccl_supported(void);
int ct_process_group_create_nccl(const char *master_addr, int port, int rank, int world_size, int64_t timeout_ms,
                                 int device_index, const char *plugin_path, ct_process_group *out);
void ct_process_group_free(ct_process_group group);
int ct_process_group_rank(ct_process_group group, int *out);
int ct_process_group_size(ct_process_group group, int *out);
/* In place: the tensor becomes the sum over ranks; waits for completion. */
int ct_process_group_allreduce_sum(ct_process_group group, ct_tensor tensor);
/* In place: the tensor becomes root's; waits for completion. */
int ct_process_group_broadcast(ct_process_group group, ct_tensor tensor, int root);
int ct_process_group_barrier(ct_process_group group);

#ifdef __cplusplus
}
#endif

#endif /* CTORCH_H */
