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
const layers = @import("layers.zig");
const launch = @import("launch.zig");
const Env = @import("env.zig").Env;

/// What BUNDLER_STUB asks for.
const Mode = union(enum) {
    run,
    info,
    verify,
    python,
    uninstall,
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
    if (std.mem.eql(u8, value, "uninstall")) return .uninstall;
    if (std.mem.startsWith(u8, value, "extract:") and value.len > "extract:".len) return .{ .extract = value["extract:".len..] };
    fail.now(.usage, "BUNDLER_STUB={s} is not valid; use info, verify, python, uninstall or extract:DIR, or unset it to run the application.", .{value});
}

fn run(arena: std.mem.Allocator, args: []const [*:0]const u8, env: Env) Error!void {
    const mode = parseMode(env);
    var art = try artifact.openSelf(arena);
    if (mode == .info) {
        // A manifest that breaks a rule is still shown as it is, without the cache (no key to find it by).
        const parsed = if (artifact.parseManifest(&art, arena)) true else |e| switch (e) {
            error.OutOfMemory => return error.OutOfMemory,
            error.Failed => false,
        };
        sys.writeStdout(try info(arena, art.manifest_raw, if (parsed) &art else null, env));
        sys.writeStdout("\n");
        sys.exit(0);
    }
    try artifact.parseManifest(&art, arena);
    switch (mode) {
        .info => unreachable, // answered above
        .run => try start(arena, args, env, &art, .entry),
        .python => try start(arena, args, env, &art, .python),
        .verify => try verify(&art),
        .uninstall => try uninstall(arena, env, &art),
        .extract => |dir| try extractTo(dir, &art),
    }
    sys.exit(0);
}

/// BUNDLER_STUB=info: the manifest indented for a person to read (key order kept) with a
/// `cache` member: where this file's tree is (or would be), whether it is unpacked, its size
/// (and how much of it is shared), the app's other trees, and how many trees hold each of its
/// layers. The raw bytes if the manifest does not parse, so that `info` still shows what a
/// damaged file holds.
fn info(arena: std.mem.Allocator, raw: []const u8, art: ?*const artifact.Artifact, env: Env) error{OutOfMemory}![]const u8 {
    var value = std.json.parseFromSliceLeaky(std.json.Value, arena, raw, .{}) catch return raw;
    if (art) |a| if (value == .object) {
        var c: std.json.ObjectMap = .empty;
        const found = try cache.find(arena, env, a.manifest.app.name);
        const key = a.key();
        try c.put(arena, "root", if (found.root) |r| .{ .string = r } else .null);
        var unpacked = false;
        var others: std.json.Array = .init(arena);
        if (found.root) |r| try c.put(arena, "tree", .{ .string = try std.fmt.allocPrint(arena, "{s}" ++ .{sys.sep} ++ "{s}" ++ .{sys.sep} ++ "{s}", .{ r, a.manifest.app.name, key }) });
        if (found.app_fd) |app_fd| {
            for (try cache.trees(arena, found.root_fd.?, a.manifest.app.name)) |t| {
                var z: sys.PathZ = .{};
                const size = cache.treeSize(app_fd, z.of(t.name) catch continue);
                if (std.mem.eql(u8, t.name, key)) {
                    unpacked = true;
                    try c.put(arena, "size", .{ .integer = @intCast(size.bytes) });
                    try c.put(arena, "shared", .{ .integer = @intCast(size.shared) });
                } else {
                    var o: std.json.ObjectMap = .empty;
                    try o.put(arena, "tree", .{ .string = try std.fmt.allocPrint(arena, "{s}" ++ .{sys.sep} ++ "{s}" ++ .{sys.sep} ++ "{s}", .{ found.root.?, a.manifest.app.name, t.name }) });
                    try o.put(arena, "size", .{ .integer = @intCast(size.bytes) });
                    try o.put(arena, "shared", .{ .integer = @intCast(size.shared) });
                    try others.append(.{ .object = o });
                }
            }
        }
        try c.put(arena, "unpacked", .{ .bool = unpacked });
        try c.put(arena, "others", .{ .array = others });
        // Each layer's content address and how many trees of the cache (any app) hold it.
        var shared: std.json.Array = .init(arena);
        for (a.manifest.layers) |layer| {
            const k = layers.keyOf(layer) orelse continue;
            var o: std.json.ObjectMap = .empty;
            try o.put(arena, "name", .{ .string = layer.name });
            try o.put(arena, "key", .{ .string = try arena.dupe(u8, &k) });
            const n = if (found.root_fd) |fd| layers.holders(fd, &k) else 0;
            try o.put(arena, "trees", .{ .integer = @intCast(n) });
            try shared.append(.{ .object = o });
        }
        try c.put(arena, "layers", .{ .array = shared });
        try value.object.put(arena, "cache", .{ .object = c });
    };
    return std.json.Stringify.valueAlloc(arena, value, .{ .whitespace = .indent_2 }) catch raw;
}

/// BUNDLER_STUB=uninstall: removes this app's trees from the cache (a tree in use by a running
/// program stays, and the line says so), prints what it did.
fn uninstall(arena: std.mem.Allocator, env: Env, art: *const artifact.Artifact) Error!void {
    const app = art.manifest.app.name;
    const found = try cache.find(arena, env, app);
    if (found.app_fd == null) {
        sys.writeStdout(try std.fmt.allocPrint(arena, "{s} has no unpacked copy in the cache; nothing to remove\n", .{app}));
        return;
    }
    const c = try cache.open(arena, env, app);
    const r = try cache.removeAll(arena, c, app);
    const mb = @as(f64, @floatFromInt(r.bytes)) / 1e6;
    var line = try std.fmt.allocPrint(arena, "removed {d} unpacked cop{s} of {s} ({d:.1} MB) from {s}", .{ r.trees, if (r.trees == 1) "y" else "ies", app, mb, c.root });
    if (r.freed < r.bytes) {
        line = try std.fmt.allocPrint(arena, "{s}, freeing {s} (the rest is shared with other apps' copies and stays)", .{ line, try humanSize(arena, r.freed) });
    }
    if (r.in_use > 0) line = try std.fmt.allocPrint(arena, "{s}; {d} in use by a running program kept (run uninstall again once it has exited)", .{ line, r.in_use });
    sys.writeStdout(try std.fmt.allocPrint(arena, "{s}\n", .{line}));
}

/// "12.3 MB", "24 kB", "512 bytes": what uninstall freed, which is often far below a megabyte
/// when the rest is shared.
fn humanSize(arena: std.mem.Allocator, bytes: u64) error{OutOfMemory}![]const u8 {
    const b: f64 = @floatFromInt(bytes);
    if (bytes >= 1_000_000) return std.fmt.allocPrint(arena, "{d:.1} MB", .{b / 1e6});
    if (bytes >= 1_000) return std.fmt.allocPrint(arena, "{d:.0} kB", .{b / 1e3});
    return std.fmt.allocPrint(arena, "{d} byte{s}", .{ bytes, if (bytes == 1) "" else "s" });
}

test humanSize {
    var arena = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena.deinit();
    const a = arena.allocator();
    try std.testing.expectEqualStrings("35.0 MB", try humanSize(a, 34_980_981));
    try std.testing.expectEqualStrings("24 kB", try humanSize(a, 24_281));
    try std.testing.expectEqualStrings("512 bytes", try humanSize(a, 512));
    try std.testing.expectEqualStrings("1 byte", try humanSize(a, 1));
}

/// Finds or unpacks the runtime in the cache and execs it.
fn start(arena: std.mem.Allocator, args: []const [*:0]const u8, env: Env, art: *const artifact.Artifact, what: launch.What) Error!void {
    const l: launch.Launch = .{ .args = args, .env = env, .tree = "", .art = art, .what = what };
    if (what == .entry) _ = try launch.chooseEntry(l); // a bad manifest fails before any unpacking
    const keep = cache.keepFrom(env.get("BUNDLER_CACHE_KEEP")) orelse
        fail.now(.usage, "BUNDLER_CACHE_KEEP={s} is not valid; give how many unpacked copies of an app to keep, 1 or more.", .{env.get("BUNDLER_CACHE_KEEP").?});
    const c = try cache.open(arena, env, art.manifest.app.name);
    // Not the arena: extraction frees and reuses large frame buffers.
    const tree = try cache.tree(std.heap.c_allocator, c, art, keep);
    var with_tree = l;
    with_tree.tree = tree;
    return launch.exec(arena, with_tree);
}

/// BUNDLER_STUB=verify: every checksum, frame and entry, nothing written.
fn verify(art: *const artifact.Artifact) Error!void {
    try artifact.checkPayloadDigest(art, std.heap.c_allocator);
    try extract.run(std.heap.c_allocator, art, .verify, .{});
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
    extract.run(std.heap.c_allocator, art, .{ .dir = fd }, .{}) catch |e| {
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
    _ = @import("layers.zig");
    _ = @import("extract.zig");
    _ = @import("env.zig");
    _ = @import("launcher.zig"); // the entry launcher: a Windows runtime directory's, a macOS app's
    _ = @import("sha256.zig");
}
