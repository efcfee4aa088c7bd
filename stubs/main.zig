//! The bundler stub: the native program at the front of a single-file
//! artifact. It reads the payload appended to its own file, unpacks the
//! Python runtime into a per-user cache once, and execs the interpreter.
//! stubs/README.md describes the behaviour, variables and exit codes;
//! docs/FORMAT.md the file format.

const std = @import("std");
const sys = @import("sys.zig").Impl;
const fail = @import("fail.zig");
const artifact = @import("artifact.zig");
const cache = @import("cache.zig");
const extract = @import("extract.zig");
const launch = @import("launch.zig");
const Env = @import("env.zig").Env;

/// What BUNDLER_STUB asks for.
const Mode = union(enum) {
    run,
    info,
    verify,
    python,
    extract: []const u8,
};

const Error = fail.Failed || error{OutOfMemory};

pub fn main(init: std.process.Init.Minimal) u8 {
    var arena_state = std.heap.ArenaAllocator.init(std.heap.c_allocator);
    const arena = arena_state.allocator();
    // On Linux and macOS the kernel's vectors as they are; on Windows the
    // UTF-16 command line and environment block converted to WTF-8.
    const args = sys.processArgs(init, arena) catch oom();
    const env: Env = .{ .vars = sys.processEnv(init, arena) catch oom() };
    run(arena, args, env) catch |e| switch (e) {
        error.Failed => fail.exit(),
        error.OutOfMemory => oom(),
    };
    return 0;
}

fn oom() noreturn {
    fail.now(.write_failed, "out of memory while starting {s}; close other programs and try again.", .{fail.context.app});
}

fn parseMode(env: Env) Mode {
    const value = env.get("BUNDLER_STUB") orelse return .run;
    if (value.len == 0) return .run;
    if (std.mem.eql(u8, value, "info")) return .info;
    if (std.mem.eql(u8, value, "verify")) return .verify;
    if (std.mem.eql(u8, value, "python")) return .python;
    if (std.mem.startsWith(u8, value, "extract:") and value.len > "extract:".len) return .{ .extract = value["extract:".len..] };
    fail.now(.usage, "BUNDLER_STUB={s} is not valid; use info, verify, python or extract:DIR, or unset it to run the application.", .{value});
}

fn run(arena: std.mem.Allocator, args: []const [*:0]const u8, env: Env) Error!void {
    const mode = parseMode(env);
    var art = try artifact.openSelf(arena);
    if (mode == .info) {
        sys.writeStdout(prettyManifest(arena, art.manifest_raw));
        sys.writeStdout("\n");
        sys.exit(0);
    }
    try artifact.parseManifest(&art, arena);
    switch (mode) {
        .info => unreachable, // answered above, before parsing
        .run => try start(arena, args, env, &art, .entry),
        .python => try start(arena, args, env, &art, .python),
        .verify => try verify(&art),
        .extract => |dir| try extractTo(dir, &art),
    }
    sys.exit(0);
}

/// The manifest indented for a person to read (key order kept); its raw bytes if they do not
/// parse, so that `info` still shows what a damaged file holds.
fn prettyManifest(arena: std.mem.Allocator, raw: []const u8) []const u8 {
    const value = std.json.parseFromSliceLeaky(std.json.Value, arena, raw, .{}) catch return raw;
    return std.json.Stringify.valueAlloc(arena, value, .{ .whitespace = .indent_2 }) catch raw;
}

/// Finds or unpacks the runtime in the cache and execs it.
fn start(arena: std.mem.Allocator, args: []const [*:0]const u8, env: Env, art: *const artifact.Artifact, what: launch.What) Error!void {
    const l: launch.Launch = .{ .args = args, .env = env, .tree = "", .art = art, .what = what };
    if (what == .entry) _ = try launch.chooseEntry(l); // a bad manifest fails before any unpacking
    const c = try cache.open(arena, env, art.manifest.app.name);
    // Not the arena: extraction frees and reuses large frame buffers.
    const tree = try cache.tree(std.heap.c_allocator, c, art);
    var with_tree = l;
    with_tree.tree = tree;
    return launch.exec(arena, with_tree);
}

/// BUNDLER_STUB=verify: every checksum, frame and entry, nothing written.
fn verify(art: *const artifact.Artifact) Error!void {
    try artifact.checkPayloadDigest(art, std.heap.c_allocator);
    try extract.run(std.heap.c_allocator, art, .verify);
    const m = art.manifest;
    var buf: [1024]u8 = undefined;
    const line = std.fmt.bufPrint(&buf, "ok {s} {s} {s}\n", .{ m.app.name, m.app.version, m.target }) catch "ok\n";
    sys.writeStdout(line);
}

/// BUNDLER_STUB=extract:DIR: a runnable runtime in DIR (new or empty), no cache.
fn extractTo(dir: []const u8, art: *const artifact.Artifact) Error!void {
    fail.context.dest = dir;
    fail.context.into_cache = false;
    var z: sys.PathZ = .{};
    const path = z.of(dir) catch return fail.writeFailed(dir, sys.errno());
    const created = try prepareEmptyDir(path);
    const fd = sys.openDirFollow(path) catch return fail.writeFailed(dir, sys.errno());
    defer sys.close(fd);
    extract.run(std.heap.c_allocator, art, .{ .dir = fd }) catch |e| {
        if (created) sys.removeTree(sys.cwd, path) catch {} else sys.removeContents(fd) catch {};
        return e;
    };
}

/// Creates *path* (like mkdir -p) or checks that it is an empty directory; true if created.
fn prepareEmptyDir(path: [:0]const u8) fail.Failed!bool {
    if (sys.statAt(sys.cwd, path, true)) |st| {
        if (st.kind != .dir) return fail.record(.usage, "{s} exists and is not a directory; choose a new or empty directory for BUNDLER_STUB=extract:DIR.", .{path});
        const fd = sys.openDirFollow(path) catch return fail.writeFailed(path, sys.errno());
        defer sys.close(fd);
        var it: sys.DirIterator = .{ .fd = fd };
        const first = it.next() catch return fail.writeFailed(path, sys.errno());
        if (first != null) return fail.record(.usage, "{s} is not empty; choose a new or empty directory for BUNDLER_STUB=extract:DIR.", .{path});
        return false;
    } else |_| {
        if (!sys.isNotFound(sys.errno())) return fail.writeFailed(path, sys.errno());
    }
    sys.makePath(path, 0o755) catch return fail.writeFailed(path, sys.errno());
    return true;
}

test {
    _ = @import("artifact.zig");
    _ = @import("entries.zig");
    _ = @import("cache.zig");
    _ = @import("extract.zig");
    _ = @import("env.zig");
    _ = @import("launcher.zig"); // the entry launcher: a Windows runtime directory's, a macOS app's
}
