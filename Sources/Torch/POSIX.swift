#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// `read(2)` and `write(2)` under names that do not collide with the `read`/`write` methods of the
// types that call them (``SafeTensors/read(from:)``, ``AtomicFile``).
#if canImport(Glibc)
    let posixRead: @Sendable (Int32, UnsafeMutableRawPointer?, Int) -> Int = Glibc.read
    let posixWrite: @Sendable (Int32, UnsafeRawPointer?, Int) -> Int = Glibc.write
#elseif canImport(Musl)
    let posixRead: @Sendable (Int32, UnsafeMutableRawPointer?, Int) -> Int = Musl.read
    let posixWrite: @Sendable (Int32, UnsafeRawPointer?, Int) -> Int = Musl.write
#else
    let posixRead: @Sendable (Int32, UnsafeMutableRawPointer?, Int) -> Int = Darwin.read
    let posixWrite: @Sendable (Int32, UnsafeRawPointer?, Int) -> Int = Darwin.write
#endif
