// Float32 tensors: contiguous row-major storage, owned or viewed.
//
// A Tensor either owns a 64-byte aligned buffer (freed with it) or is a view into
// memory owned by someone else (the parameter arena of DESIGN.md); the view keeps
// its owner alive through `owner`.

public final class Tensor {
    public let shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>
    private let owns: Bool
    private let owner: AnyObject?

    /// A zero-filled tensor that owns its storage.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = Tensor.allocate(count)
        self.data.initialize(repeating: 0, count: count)
        self.owns = true
        self.owner = nil
    }

    /// A tensor holding a copy of `values`.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A view of `shape` over memory owned elsewhere; `owner` is retained.
    public init(viewing pointer: UnsafeMutablePointer<Float>, shape: [Int], owner: AnyObject?) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = pointer
        self.owns = false
        self.owner = owner
    }

    deinit {
        if owns { UnsafeMutableRawPointer(data).deallocate() }
    }

    /// 64-byte aligned, uninitialised storage for `count` floats (at least one).
    public static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    public var array: [Float] { Array(buffer) }

    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public func copy(from other: Tensor) {
        precondition(other.count == count, "Tensor.copy: \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }
}
