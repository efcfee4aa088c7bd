//! The part of libzstd's API the stub uses: one-shot decompression into a
//! buffer of known size, and streaming decompression for frames too large to
//! hold whole. libzstd (zstd.c from the pinned zstandard sdist) is
//! compiled into the stub; the linker drops everything else (compression,
//! dictionary builder) because nothing references it.

pub const DCtx = opaque {};

extern fn ZSTD_createDCtx() ?*DCtx;
extern fn ZSTD_freeDCtx(dctx: *DCtx) usize;
extern fn ZSTD_decompressDCtx(dctx: *DCtx, dst: [*]u8, dst_capacity: usize, src: [*]const u8, src_size: usize) usize;
extern fn ZSTD_DCtx_reset(dctx: *DCtx, directive: c_int) usize;
extern fn ZSTD_decompressStream(dctx: *DCtx, output: *OutBuffer, input: *InBuffer) usize;
extern fn ZSTD_isError(code: usize) c_uint;

const InBuffer = extern struct { src: [*]const u8, size: usize, pos: usize };
const OutBuffer = extern struct { dst: [*]u8, size: usize, pos: usize };
const reset_session_only = 1;
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

    /// Starts a new stream (the frame before it may have ended anywhere).
    pub fn reset(self: Decoder) void {
        _ = ZSTD_DCtx_reset(self.dctx, reset_session_only);
    }

    pub const Step = struct { consumed: usize, produced: usize, frame_done: bool };
    pub const StepResult = union(enum) { step: Step, err: [*:0]const u8 };

    /// Feeds *src* and fills *dst* as far as either goes; libzstd checks each frame's
    /// checksum when the frame ends (`frame_done`).
    pub fn stream(self: Decoder, dst: []u8, src: []const u8) StepResult {
        var in: InBuffer = .{ .src = src.ptr, .size = src.len, .pos = 0 };
        var out: OutBuffer = .{ .dst = dst.ptr, .size = dst.len, .pos = 0 };
        const rc = ZSTD_decompressStream(self.dctx, &out, &in);
        if (ZSTD_isError(rc) != 0) return .{ .err = ZSTD_getErrorName(rc) };
        return .{ .step = .{ .consumed = in.pos, .produced = out.pos, .frame_done = rc == 0 } };
    }

    /// Decompresses all frames in *src* into *dst*; libzstd checks each frame's checksum.
    pub fn decompress(self: Decoder, dst: []u8, src: []const u8) Result {
        const rc = ZSTD_decompressDCtx(self.dctx, dst.ptr, dst.len, src.ptr, src.len);
        if (ZSTD_isError(rc) != 0) return .{ .err = ZSTD_getErrorName(rc) };
        return .{ .size = rc };
    }
};
