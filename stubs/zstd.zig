//! The part of libzstd's API the stub uses: one-shot decompression into a
//! buffer of known size. libzstd (zstd.c from the pinned zstandard sdist) is
//! compiled into the stub; the linker drops everything else (compression,
//! dictionary builder) because nothing references it.

pub const DCtx = opaque {};

extern fn ZSTD_createDCtx() ?*DCtx;
extern fn ZSTD_freeDCtx(dctx: *DCtx) usize;
extern fn ZSTD_decompressDCtx(dctx: *DCtx, dst: [*]u8, dst_capacity: usize, src: [*]const u8, src_size: usize) usize;
extern fn ZSTD_isError(code: usize) c_uint;
extern fn ZSTD_getErrorName(code: usize) [*:0]const u8;

pub const Decoder = struct {
    dctx: *DCtx,

    pub fn init() error{OutOfMemory}!Decoder {
        return .{ .dctx = ZSTD_createDCtx() orelse return error.OutOfMemory };
    }

    pub fn deinit(self: Decoder) void {
        _ = ZSTD_freeDCtx(self.dctx);
    }

    pub const Result = union(enum) { size: usize, err: [*:0]const u8 };

    /// Decompresses all frames in *src* into *dst*; libzstd checks each frame's checksum.
    pub fn decompress(self: Decoder, dst: []u8, src: []const u8) Result {
        const rc = ZSTD_decompressDCtx(self.dctx, dst.ptr, dst.len, src.ptr, src.len);
        if (ZSTD_isError(rc) != 0) return .{ .err = ZSTD_getErrorName(rc) };
        return .{ .size = rc };
    }
};
