//! How the stub fails: one sentence on stderr (what happened, what to do) and
//! a documented exit code (stubs/README.md).
//!
//! Any function, on any thread, records a failure with one of the helpers
//! below and returns `error.Failed`; the first failure recorded wins, the
//! other extraction threads see `failed()` and stop, and `main` cleans up and
//! calls `exit()`.

const std = @import("std");
const sys = @import("sys.zig").Impl;

pub const Code = enum(u8) {
    usage = 64,
    damaged = 65,
    exec_failed = 71,
    no_cache = 73,
    write_failed = 74,
    /// The entry launcher (launcher.zig) exits like a shell whose command
    /// cannot run (126) or is not there (127).
    cannot_run = 126,
    not_found = 127,
};

pub const Failed = error{Failed};

/// What the messages name; set as soon as it is known.
pub const Context = struct {
    artifact: []const u8 = "this program",
    app: []const u8 = "the application",
    /// Where the runtime is being unpacked (cache root or extract:DIR).
    dest: []const u8 = "",
    /// Uncompressed size of the runtime, for the disk-space message.
    need_bytes: u64 = 0,
    /// True when unpacking into the cache (the hints mention BUNDLER_CACHE_DIR).
    into_cache: bool = true,
};

pub var context: Context = .{};

var claimed = std.atomic.Value(bool).init(false);
var code: Code = .damaged;
var message_buf: [16 * 1024]u8 = undefined;
var message_len: usize = 0;

/// True once any thread recorded a failure.
pub fn failed() bool {
    return claimed.load(.acquire);
}

/// Writes the recorded sentence to stderr and exits with its code (the
/// Windows GUI stub also shows it in a message box).
pub fn exit() noreturn {
    sys.writeStderr(message_buf[0..message_len]);
    if (@hasDecl(sys, "alert")) sys.alert(context.app, message_buf[0..message_len]);
    sys.exit(@backingInt(code));
}

/// Prints a sentence and exits at once (nothing to clean up).
pub fn now(c: Code, comptime fmt: []const u8, args: anytype) noreturn {
    store(c, fmt, args);
    exit();
}

/// Records "bundler: <fmt>\n" unless another failure came first.
pub fn record(c: Code, comptime fmt: []const u8, args: anytype) Failed {
    store(c, fmt, args);
    return error.Failed;
}

fn store(c: Code, comptime fmt: []const u8, args: anytype) void {
    if (claimed.cmpxchgStrong(false, true, .acq_rel, .acquire) != null) return;
    code = c;
    var w: std.Io.Writer = .fixed(message_buf[0 .. message_buf.len - 1]);
    w.print("bundler: " ++ fmt, args) catch {};
    const n = w.buffered().len;
    message_buf[n] = '\n';
    message_len = n + 1;
}

/// The artifact is damaged or truncated; *fmt* says how.
pub fn damaged(comptime fmt: []const u8, args: anytype) Failed {
    return record(.damaged, "{s} is damaged or truncated (" ++ fmt ++ "); download it again.", .{context.artifact} ++ args);
}

/// Not enough disk space (ENOSPC, EDQUOT).
pub fn noSpace() Failed {
    const mb = (context.need_bytes + (1 << 20) - 1) >> 20;
    if (context.into_cache) return record(
        .write_failed,
        "not enough disk space to unpack {s} into {s} (needs about {d} MB); free space or set BUNDLER_CACHE_DIR to another disk.",
        .{ context.app, context.dest, mb },
    );
    return record(
        .write_failed,
        "not enough disk space to unpack {s} into {s} (needs about {d} MB); free space or choose a directory on another disk.",
        .{ context.app, context.dest, mb },
    );
}

/// A write under *dest* failed for another reason than disk space.
pub fn writeFailed(what: []const u8, e: sys.Errno) Failed {
    if (sys.isNoSpace(e)) return noSpace();
    if (context.into_cache) return record(
        .write_failed,
        "cannot unpack {s} into {s}: writing {s} failed ({s}); check that directory or set BUNDLER_CACHE_DIR to a writable directory.",
        .{ context.app, context.dest, what, sys.errnoText(e) },
    );
    return record(
        .write_failed,
        "cannot unpack {s} into {s}: writing {s} failed ({s}); check that directory or choose another one.",
        .{ context.app, context.dest, what, sys.errnoText(e) },
    );
}

pub fn outOfMemory() Failed {
    store(.write_failed, "out of memory while starting {s}; close other programs and try again.", .{context.app});
    return error.Failed;
}
