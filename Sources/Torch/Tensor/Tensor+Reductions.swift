import CTorch

extension Tensor {
    /// The sum of all elements (0-dimensional).
    public func sum() -> Tensor { unary("sum", ct_sum) }
    /// The mean of all elements (0-dimensional).
    public func mean() -> Tensor { unary("mean", ct_mean) }
    /// The largest element (0-dimensional).
    public func max() -> Tensor { unary("max", ct_max) }
    /// The smallest element (0-dimensional).
    public func min() -> Tensor { unary("min", ct_min) }
    /// Whether every element is true (0-dimensional bool).
    public func all() -> Tensor { unary("all", ct_all) }
    /// Whether some element is true (0-dimensional bool).
    public func any() -> Tensor { unary("any", ct_any) }
    /// log |det A| for a square matrix or a batch of them (NaN for a negative determinant).
    public func logDeterminant() -> Tensor { unary("logdet", ct_logdet) }

    /// The sum over `axes`.
    public func sum(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
        Tensor.make("sum(\(axes))") { out in withInt64s(axes) { ct_sum_dims(handle, $0, $1, keepingDims, out) } }
    }

    /// The sum over one axis.
    public func sum(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
        sum(alongAxes: [axis], keepingDims: keepingDims)
    }

    /// The mean over `axes`.
    public func mean(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
        Tensor.make("mean(\(axes))") { out in withInt64s(axes) { ct_mean_dims(handle, $0, $1, keepingDims, out) } }
    }

    /// The mean over one axis.
    public func mean(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
        mean(alongAxes: [axis], keepingDims: keepingDims)
    }

    /// The largest values along `axis` and their indices.
    public func max(alongAxis axis: Int, keepingDims: Bool = false) -> (values: Tensor, indices: Tensor) {
        Tensor.makePair("max(\(axis))") { ct_max_dim(handle, Int64(axis), keepingDims, $0, $1) }
    }

    /// The smallest values along `axis` and their indices.
    public func min(alongAxis axis: Int, keepingDims: Bool = false) -> (values: Tensor, indices: Tensor) {
        Tensor.makePair("min(\(axis))") { ct_min_dim(handle, Int64(axis), keepingDims, $0, $1) }
    }

    /// The index of the largest value along `axis` (int64).
    public func argmax(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
        Tensor.make("argmax(\(axis))") { ct_argmax(handle, Int64(axis), keepingDims, $0) }
    }

    /// The index of the smallest value along `axis` (int64).
    public func argmin(alongAxis axis: Int, keepingDims: Bool = false) -> Tensor {
        Tensor.make("argmin(\(axis))") { ct_argmin(handle, Int64(axis), keepingDims, $0) }
    }

    /// The p-norm over `axes` (`p` = .infinity for the max norm); all axes when `axes` is empty.
    public func norm(p: Double = 2, alongAxes axes: [Int] = [], keepingDims: Bool = false) -> Tensor {
        Tensor.make("norm(p \(p), \(axes))") { out in withInt64s(axes) { ct_norm(handle, p, $0, $1, keepingDims, out) } }
    }

    /// log Σ exp over `axes`, computed stably.
    public func logSumExp(alongAxes axes: [Int], keepingDims: Bool = false) -> Tensor {
        Tensor.make("logsumexp(\(axes))") { out in withInt64s(axes) { ct_logsumexp(handle, $0, $1, keepingDims, out) } }
    }

    /// The variance over `axes` (Bessel-corrected when `unbiased`).
    public func variance(alongAxes axes: [Int], unbiased: Bool = true, keepingDims: Bool = false) -> Tensor {
        Tensor.make("var(\(axes))") { out in withInt64s(axes) { ct_var(handle, $0, $1, unbiased, keepingDims, out) } }
    }

    /// The `k` largest (or smallest) values along `axis` and their indices.
    public func topK(_ k: Int, alongAxis axis: Int = -1, largest: Bool = true, sorted: Bool = true) -> (
        values: Tensor, indices: Tensor
    ) {
        Tensor.makePair("topk(\(k), \(axis))") { ct_topk(handle, Int64(k), Int64(axis), largest, sorted, $0, $1) }
    }

    /// The values sorted along `axis` and the permutation that sorts them.
    public func sorted(alongAxis axis: Int = -1, descending: Bool = false) -> (values: Tensor, indices: Tensor) {
        Tensor.makePair("sort(\(axis))") { ct_sort(handle, Int64(axis), descending, $0, $1) }
    }

    /// The running sum along `axis`.
    public func cumulativeSum(alongAxis axis: Int) -> Tensor {
        Tensor.make("cumsum(\(axis))") { ct_cumsum(handle, Int64(axis), $0) }
    }
}
