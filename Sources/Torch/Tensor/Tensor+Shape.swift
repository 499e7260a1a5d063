import CTorch

extension Tensor {
    /// The same elements in a new shape (a view when possible); one dimension may be -1.
    public func reshaped(to shape: [Int]) -> Tensor {
        Tensor.make("reshape(\(self.shape) -> \(shape))") { out in withInt64s(shape) { ct_reshape(handle, $0, $1, out) } }
    }

    /// A view with a new shape over the same storage; fails on non-contiguous layouts.
    public func viewed(as shape: [Int]) -> Tensor {
        Tensor.make("view(\(self.shape) -> \(shape))") { out in withInt64s(shape) { ct_view(handle, $0, $1, out) } }
    }

    /// The dimensions reordered: result dimension i is source dimension `axes[i]`.
    public func permuted(_ axes: [Int]) -> Tensor {
        Tensor.make("permute(\(axes))") { out in withInt64s(axes) { ct_permute(handle, $0, $1, out) } }
    }

    /// Two dimensions swapped.
    public func transposed(_ first: Int, _ second: Int) -> Tensor {
        Tensor.make("transpose(\(first), \(second))") { ct_transpose(handle, Int64(first), Int64(second), $0) }
    }

    /// The matrix transpose of a 2-D tensor.
    public func transposed() -> Tensor {
        transposed(0, 1)
    }

    /// A broadcast view to a larger shape (-1 keeps a dimension).
    public func expanded(to shape: [Int]) -> Tensor {
        Tensor.make("expand(\(self.shape) -> \(shape))") { out in withInt64s(shape) { ct_expand(handle, $0, $1, out) } }
    }

    /// The tensor tiled `counts[i]` times along dimension i.
    public func repeated(_ counts: [Int]) -> Tensor {
        Tensor.make("repeat(\(counts))") { out in withInt64s(counts) { ct_repeat(handle, $0, $1, out) } }
    }

    /// Dimension `axis` removed if its size is 1.
    public func squeezed(axis: Int) -> Tensor {
        Tensor.make("squeeze(\(axis))") { ct_squeeze(handle, Int64(axis), $0) }
    }

    /// A dimension of size 1 inserted at `axis`.
    public func unsqueezed(axis: Int) -> Tensor {
        Tensor.make("unsqueeze(\(axis))") { ct_unsqueeze(handle, Int64(axis), $0) }
    }

    /// Dimensions `startAxis` through `endAxis` merged into one.
    public func flattened(startAxis: Int = 0, endAxis: Int = -1) -> Tensor {
        Tensor.make("flatten(\(startAxis), \(endAxis))") { ct_flatten(handle, Int64(startAxis), Int64(endAxis), $0) }
    }

    /// The elements `start..<end` (every `step`-th) along `axis`, as a view.
    public func sliced(alongAxis axis: Int, from start: Int, to end: Int, step: Int = 1) -> Tensor {
        Tensor.make("slice(axis \(axis), \(start)..<\(end), step \(step))") {
            ct_slice(handle, Int64(axis), Int64(start), Int64(end), Int64(step), $0)
        }
    }

    /// The sub-tensor at `index` along `axis`, with that dimension removed.
    public func selected(alongAxis axis: Int, index: Int) -> Tensor {
        Tensor.make("select(axis \(axis), \(index))") { ct_select(handle, Int64(axis), Int64(index), $0) }
    }

    /// The entries at `indices` (an int64 tensor) along `axis`.
    public func indexSelected(alongAxis axis: Int, indices: Tensor) -> Tensor {
        Tensor.make("index_select(axis \(axis))") { out in indices.withHandle { ct_index_select(handle, Int64(axis), $0, out) } }
    }

    /// Values gathered along `axis` at positions given by `indices` (torch.gather).
    public func gathered(alongAxis axis: Int, indices: Tensor) -> Tensor {
        Tensor.make("gather(axis \(axis))") { out in indices.withHandle { ct_gather(handle, Int64(axis), $0, out) } }
    }

    /// The elements where `mask` is true, as a 1-D tensor.
    public func masked(by mask: Tensor) -> Tensor {
        Tensor.make("masked_select") { out in mask.withHandle { ct_masked_select(handle, $0, out) } }
    }

    /// A copy with `value` where `mask` is true.
    public func filled(where mask: Tensor, with value: Double) -> Tensor {
        Tensor.make("masked_fill") { out in mask.withHandle { ct_masked_fill(handle, $0, value, out) } }
    }

    /// The sub-tensor at `index` along the first dimension.
    public subscript(index: Int) -> Tensor {
        selected(alongAxis: 0, index: index)
    }

    /// The rows in `range` along the first dimension, as a view.
    public subscript(range: Range<Int>) -> Tensor {
        sliced(alongAxis: 0, from: range.lowerBound, to: range.upperBound)
    }

    /// Tensors joined along an existing dimension.
    public static func concatenate(_ tensors: [Tensor], alongAxis axis: Int = 0) -> Tensor {
        make("cat(\(tensors.count) tensors, axis \(axis))") { out in
            withHandles(tensors) { ct_cat($0, Int64(tensors.count), Int64(axis), out) }
        }
    }

    /// Tensors of equal shape joined along a new dimension.
    public static func stack(_ tensors: [Tensor], alongAxis axis: Int = 0) -> Tensor {
        make("stack(\(tensors.count) tensors, axis \(axis))") { out in
            withHandles(tensors) { ct_stack($0, Int64(tensors.count), Int64(axis), out) }
        }
    }

    /// The elements in reverse order along each axis in `axes`.
    public func flipped(alongAxes axes: [Int]) -> Tensor {
        Tensor.make("flip(\(axes))") { out in withInt64s(axes) { ct_flip(handle, $0, $1, out) } }
    }

    /// The elements shifted cyclically by `shifts[i]` along `axes[i]`.
    public func rolled(by shifts: [Int], alongAxes axes: [Int]) -> Tensor {
        precondition(shifts.count == axes.count, "rolled(by:alongAxes:): \(shifts.count) shifts for \(axes.count) axes")
        return Tensor.make("roll(\(shifts), \(axes))") { out in
            withInt64s(shifts) { shiftPointer, _ in withInt64s(axes) { ct_roll(handle, shiftPointer, $0, $1, out) } }
        }
    }

    /// Constant padding; `padding` lists (before, after) pairs starting from the last dimension, as
    /// `torch.nn.functional.pad` does.
    public func padded(_ padding: [Int], value: Double = 0) -> Tensor {
        Tensor.make("pad(\(padding))") { out in withInt64s(padding) { ct_constant_pad(handle, $0, $1, value, out) } }
    }

    /// One-hot rows (int64) for the class indices in this int64 tensor.
    public func oneHot(classCount: Int) -> Tensor {
        Tensor.make("one_hot(\(classCount))") { ct_one_hot(handle, Int64(classCount), $0) }
    }

    /// The indices of the non-zero elements, one row per element (int64, shape [n, rank]).
    public func nonzeroIndices() -> Tensor {
        Tensor.make("nonzero") { ct_nonzero(handle, $0) }
    }
}
