//! SHA-256 for the stub: Zig's own, with the full 64-byte blocks hashed by the
//! x86-64 SHA extensions (SHA-NI) when the CPU has them.
//!
//! Zig's std uses SHA-NI only in a program compiled for a CPU that has it; the
//! stub is compiled for every x86-64 (the oldest ones have none), so it asks
//! the CPU once (`cpuid`: SHA, SSSE3, SSE4.1) and otherwise hashes exactly as
//! std does. A first run hashes the payload twice (every frame before it is
//! decompressed, and the payload as a whole): with SHA-NI that is about 4x
//! less CPU. The rounds are std's x86-64 code, with SSSE3's `palignr` for its
//! AVX `vpalignr`. Same bytes in, same digest out: `zig test` checks both paths
//! against std.

const std = @import("std");
const builtin = @import("builtin");
const Std = std.crypto.hash.sha2.Sha256;

pub const digest_length = Std.digest_length;
pub const Options = Std.Options;

/// 0: not asked yet, 1: no SHA-NI, 2: SHA-NI.
var ni_state = std.atomic.Value(u8).init(0);

/// Whether this CPU runs SHA-NI (always false off x86-64).
pub fn hasNi() bool {
    if (builtin.cpu.arch != .x86_64) return false;
    const known = ni_state.load(.monotonic);
    if (known != 0) return known == 2;
    const yes = detect();
    ni_state.store(if (yes) 2 else 1, .monotonic);
    return yes;
}

const Regs = struct { a: u32, b: u32, c: u32, d: u32 };

fn cpuid(leaf: u32, sub: u32) Regs {
    var a: u32 = undefined;
    var b: u32 = undefined;
    var c: u32 = undefined;
    var d: u32 = undefined;
    asm volatile ("cpuid"
        : [a] "={eax}" (a),
          [b] "={ebx}" (b),
          [c] "={ecx}" (c),
          [d] "={edx}" (d),
        : [leaf] "{eax}" (leaf),
          [sub] "{ecx}" (sub),
    );
    return .{ .a = a, .b = b, .c = c, .d = d };
}

fn detect() bool {
    if (cpuid(0, 0).a < 7) return false;
    const leaf1 = cpuid(1, 0);
    const ssse3 = leaf1.c & (1 << 9) != 0;
    const sse41 = leaf1.c & (1 << 19) != 0;
    const sha = cpuid(7, 0).b & (1 << 29) != 0;
    return ssse3 and sse41 and sha;
}

/// Test hook: hash with std alone even where SHA-NI is there.
var force_std = false;

pub const Sha256 = struct {
    inner: Std,

    pub fn init(options: Options) Sha256 {
        return .{ .inner = Std.init(options) };
    }

    pub fn hash(b: []const u8, out: *[digest_length]u8, options: Options) void {
        var d = init(options);
        d.update(b);
        d.inner.final(out);
    }

    /// std's update, with the full blocks hashed by SHA-NI where the CPU has it.
    pub fn update(self: *Sha256, b: []const u8) void {
        if (builtin.cpu.arch != .x86_64 or force_std or !hasNi()) return self.inner.update(b);
        const d = &self.inner;
        var off: usize = 0;
        if (d.buf_len != 0 and d.buf_len + b.len >= 64) {
            off += 64 - d.buf_len;
            @memcpy(d.buf[d.buf_len..][0..off], b[0..off]);
            blocksNi(&d.s, &d.buf);
            d.buf_len = 0;
        }
        const whole = (b.len - off) / 64 * 64;
        if (whole > 0) {
            blocksNi(&d.s, b[off..][0..whole]);
            off += whole;
        }
        const rest = b[off..];
        @memcpy(d.buf[d.buf_len..][0..rest.len], rest);
        d.buf_len += @as(u8, @intCast(rest.len));
        d.total_len += b.len;
    }

    pub fn finalResult(self: *Sha256) [digest_length]u8 {
        return self.inner.finalResult();
    }
};

const K = [64]u32{
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
};

const V4u32 = @Vector(4, u32);

/// The state *st* after the whole 64-byte blocks of *data* (std's x86-64 SHA-NI rounds).
fn blocksNi(st: *[8]u32, data: []const u8) void {
    var i: usize = 0;
    while (i + 64 <= data.len) : (i += 64) {
        var s: [16]u32 align(16) = undefined;
        for (&s, 0..) |*w, j| w.* = std.mem.readInt(u32, data[i + 4 * j ..][0..4], .big);
        var x: V4u32 = .{ st[5], st[4], st[1], st[0] };
        var y: V4u32 = .{ st[7], st[6], st[3], st[2] };
        var s_v: [16]V4u32 = undefined;
        for (0..4) |j| s_v[j] = s[4 * j ..][0..4].*;
        inline for (0..16) |k| {
            if (k < 12) {
                const tmp = asm ("sha256msg1 %[w4_7], %[tmp]"
                    : [tmp] "=x" (-> V4u32),
                    : [_] "0" (s_v[k]),
                      [w4_7] "x" (s_v[k + 1]),
                );
                const shifted = asm ("palignr $0x4, %[w8_11], %[r]"
                    : [r] "=x" (-> V4u32),
                    : [_] "0" (s_v[k + 3]),
                      [w8_11] "x" (s_v[k + 2]),
                );
                s_v[k + 4] = asm ("sha256msg2 %[w12_15], %[r]"
                    : [r] "=x" (-> V4u32),
                    : [_] "0" (shifted +% tmp),
                      [w12_15] "x" (s_v[k + 3]),
                );
            }
            const w: V4u32 = s_v[k] +% @as(V4u32, K[4 * k ..][0..4].*);
            y = asm ("sha256rnds2 %[x], %[y]"
                : [y] "=x" (-> V4u32),
                : [_] "0" (y),
                  [x] "x" (x),
                  [_] "{xmm0}" (w),
            );
            x = asm ("sha256rnds2 %[y], %[x]"
                : [x] "=x" (-> V4u32),
                : [_] "0" (x),
                  [y] "x" (y),
                  [_] "{xmm0}" (@as(V4u32, @bitCast(@as(u128, @bitCast(w)) >> 64))),
            );
        }
        st[0] +%= x[3];
        st[1] +%= x[2];
        st[4] +%= x[1];
        st[5] +%= x[0];
        st[2] +%= y[3];
        st[3] +%= y[2];
        st[6] +%= y[1];
        st[7] +%= y[0];
    }
}

fn expectSameAsStd(data: []const u8, chunk: usize) !void {
    var want: [32]u8 = undefined;
    Std.hash(data, &want, .{});
    var h = Sha256.init(.{});
    var off: usize = 0;
    while (off < data.len) : (off += chunk) h.update(data[off..@min(off + chunk, data.len)]);
    try std.testing.expectEqualSlices(u8, &want, &h.finalResult());
}

test "the same digests as std, with SHA-NI and without" {
    var prng: std.Random.DefaultPrng = .init(0x5eed);
    const data = try std.testing.allocator.alloc(u8, 1 << 20);
    defer std.testing.allocator.free(data);
    prng.random().bytes(data);
    for ([_]bool{ false, true }) |plain| {
        force_std = plain;
        defer force_std = false;
        for ([_]usize{ 0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 4096, 100_003 }) |n| {
            try expectSameAsStd(data[0..n], n + 1);
            try expectSameAsStd(data[0..n], 7);
            try expectSameAsStd(data[0..n], 64);
        }
        try expectSameAsStd(data, 1 << 16);
    }
    // "abc", FIPS 180-2
    var out: [32]u8 = undefined;
    Sha256.hash("abc", &out, .{});
    try std.testing.expectEqualStrings("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", &std.fmt.bytesToHex(out, .lower));
}

test "SHA-NI is found where the CPU has it" {
    if (builtin.cpu.arch != .x86_64) return error.SkipZigTest;
    // the answer is cached; asking twice gives the same
    try std.testing.expectEqual(hasNi(), hasNi());
}
