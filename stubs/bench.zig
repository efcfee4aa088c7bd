//! Decoder benchmark (a developer tool, not part of the stub):
//!
//!     python -m ziglang build-exe stubs/bench.zig <zstd>/zstd.c -lc -O ReleaseSmall \
//!         -I <zstd> -femit-bin=bench   (same flags as the stub, see bundler/output/stubbuild.py)
//!     ./bench ARTIFACT
//!
//! Decompresses every frame of ARTIFACT on one thread, first with libzstd
//! (what the stub uses), then with Zig's std.compress.zstd, and prints the
//! throughput of each in MB of output per second.

const std = @import("std");
const artifact = @import("artifact.zig");
const fail = @import("fail.zig");
const sys = @import("sys.zig").Impl;
const zstd = @import("zstd.zig");

const Frames = struct { src: []const []u8, sizes: []const usize, total: usize };

pub fn main(init: std.process.Init.Minimal) !void {
    const gpa = std.heap.c_allocator;
    const args = init.args.vector;
    if (args.len != 2) return error.Usage;
    const path = std.mem.span(args[1]);
    var art = artifact.openPath(gpa, path, path) catch fail.exit();
    artifact.parseManifest(&art, gpa) catch fail.exit();
    const frames = try load(gpa, &art);
    var out = std.ArrayList(u8).empty;
    const lib = try timeIt(gpa, frames, libzstd);
    try out.print(gpa, "{d} frames, {d:.1} MB compressed -> {d:.1} MB\n", .{ frames.src.len, mb(compressedTotal(frames)), mb(frames.total) });
    try out.print(gpa, "libzstd:          {d:.0} MB/s\n", .{mb(frames.total) / lib});
    sys.writeStdout(out.items);
    out.clearRetainingCapacity();
    const zig = try timeIt(gpa, frames, stdZstd);
    try out.print(gpa, "std.compress.zstd: {d:.0} MB/s\n", .{mb(frames.total) / zig});
    sys.writeStdout(out.items);
}

fn mb(n: usize) f64 {
    return @as(f64, @floatFromInt(n)) / 1e6;
}

fn compressedTotal(f: Frames) usize {
    var n: usize = 0;
    for (f.src) |s| n += s.len;
    return n;
}

fn load(gpa: std.mem.Allocator, art: *const artifact.Artifact) !Frames {
    const src = try gpa.alloc([]u8, art.jobs.len);
    const sizes = try gpa.alloc(usize, art.jobs.len);
    var total: usize = 0;
    for (art.jobs, 0..) |job, i| {
        src[i] = try gpa.alloc(u8, @intCast(job.frame.length));
        _ = try sys.preadAll(art.fd, src[i], art.trailer.payload_offset + job.frame.offset);
        sizes[i] = @intCast(job.frame.uncompressed_size);
        total += sizes[i];
    }
    return .{ .src = src, .sizes = sizes, .total = total };
}

/// Best of three runs, in seconds.
fn timeIt(gpa: std.mem.Allocator, frames: Frames, comptime decode: fn ([]u8, []const u8) anyerror!usize) !f64 {
    var max: usize = 0;
    for (frames.sizes) |s| max = @max(max, s);
    const dst = try gpa.alloc(u8, max + std.compress.zstd.default_window_len + std.compress.zstd.block_size_max);
    defer gpa.free(dst);
    @memset(dst, 0);
    var best: f64 = std.math.inf(f64);
    for (0..3) |_| {
        const t0 = now();
        for (frames.src, frames.sizes) |src, size| {
            if (try decode(dst, src) != size) return error.SizeMismatch;
        }
        best = @min(best, now() - t0);
    }
    return best;
}

fn now() f64 {
    var ts: std.os.linux.timespec = undefined;
    _ = std.os.linux.clock_gettime(.MONOTONIC, &ts);
    return @as(f64, @floatFromInt(ts.sec)) + @as(f64, @floatFromInt(ts.nsec)) / 1e9;
}

var decoder: ?zstd.Decoder = null;

fn libzstd(dst: []u8, src: []const u8) anyerror!usize {
    if (decoder == null) decoder = try zstd.Decoder.init();
    return switch (decoder.?.decompress(dst, src)) {
        .size => |n| n,
        .err => error.Corrupt,
    };
}

fn stdZstd(dst: []u8, src: []const u8) anyerror!usize {
    var in: std.Io.Reader = .fixed(src);
    var d: std.compress.zstd.Decompress = .init(&in, &.{}, .{});
    var w: std.Io.Writer = .fixed(dst);
    return d.reader.streamRemaining(&w);
}
