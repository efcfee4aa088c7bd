//! The entry launcher: a native program that starts one entry point of a
//! runtime directory, without a path built in (the runtime is found from the
//! launcher's own file, so a copied or moved directory keeps working).
//!
//! * Windows runtime directory (`dir` and archive outputs): `bin\<entry>.exe`,
//!   next to the entry script `bin\<entry>`, does what the single-file stub
//!   does after unpacking. Started as `D\N.exe`, it runs
//!   `D\..\python.exe -I D\N ARGS…` (sys_windows.exec: every argument quoted
//!   for the C runtime, the console shared, Ctrl-C left to Python), waits and
//!   exits with the interpreter's exit code.
//! * macOS app bundle (`app` output): `X.app/Contents/MacOS/N`, the bundle's
//!   main executable. It execs
//!   `X.app/Contents/Resources/runtime/bin/python3 -I …/runtime/bin/N ARGS…`.
//!
//! stubs/README.md, "The entry launcher".

const std = @import("std");
const builtin = @import("builtin");
const sys = @import("sys.zig").Impl;
const fail = @import("fail.zig");
const envmod = @import("env.zig");

/// The interpreter at the root of a Windows runtime (bundler/runtime/stage.py, stage_windows).
const python_name = "python.exe";
/// Where an app bundle keeps its runtime, from `Contents/` (bundler/output/appbundle.py, RUNTIME_DIR).
const bundle_runtime = "Resources/runtime";

const on_windows = builtin.os.tag == .windows;

pub fn main(init: std.process.Init.Minimal) u8 {
    var arena_state = std.heap.ArenaAllocator.init(std.heap.c_allocator);
    const arena = arena_state.allocator();
    const args = sys.processArgs(init, arena) catch oom();
    const vars = sys.processEnv(init, arena) catch oom();
    run(arena, args, vars) catch |e| switch (e) {
        error.Failed => fail.exit(),
        error.OutOfMemory => oom(),
    };
    return 0;
}

fn oom() noreturn {
    fail.now(.cannot_run, "out of memory while starting {s}; close other programs and try again.", .{fail.context.app});
}

/// What the launcher at *self* runs.
pub const Plan = struct {
    /// The entry point: the launcher's file name (without `.exe` on Windows).
    name: []const u8,
    python: [:0]const u8,
    script: [:0]const u8,
};

pub const PlanError = error{ NotALauncherName, NotInARuntime, OutOfMemory };

/// This OS's layout: a Windows runtime directory, or a macOS app bundle.
pub const plan = if (on_windows) planWindows else planBundle;

/// `D\N.exe` → `D\..\python.exe` (as `D`'s parent, without `..`) and `D\N`.
pub fn planWindows(gpa: std.mem.Allocator, self: []const u8) PlanError!Plan {
    const file = std.fs.path.basenameWindows(self);
    if (file.len <= 4 or !std.ascii.eqlIgnoreCase(file[file.len - 4 ..], ".exe")) return error.NotALauncherName;
    const bin = std.fs.path.dirnameWindows(self) orelse return error.NotInARuntime;
    const root = std.fs.path.dirnameWindows(bin) orelse return error.NotInARuntime;
    const name = file[0 .. file.len - 4];
    return .{ .name = name, .python = try join(gpa, root, python_name, '\\'), .script = try join(gpa, bin, name, '\\') };
}

/// `C/MacOS/N` → `C/Resources/runtime/bin/python3` and `C/Resources/runtime/bin/N`.
pub fn planBundle(gpa: std.mem.Allocator, self: []const u8) PlanError!Plan {
    const name = std.fs.path.basenamePosix(self);
    if (name.len == 0) return error.NotALauncherName;
    const macos = std.fs.path.dirnamePosix(self) orelse return error.NotInARuntime;
    const contents = std.fs.path.dirnamePosix(macos) orelse return error.NotInARuntime;
    const bin = try std.fmt.allocPrint(gpa, "{s}{s}{s}/bin", .{ contents, if (contents[contents.len - 1] == '/') "" else "/", bundle_runtime });
    return .{ .name = name, .python = try join(gpa, bin, "python3", '/'), .script = try join(gpa, bin, name, '/') };
}

/// *dir* and *name* with one separator between them (a root such as `C:\` or `/` has one already).
fn join(gpa: std.mem.Allocator, dir: []const u8, name: []const u8, sep: u8) error{OutOfMemory}![:0]const u8 {
    const has_sep = dir.len > 0 and (dir[dir.len - 1] == '\\' or dir[dir.len - 1] == '/');
    return std.fmt.allocPrintSentinel(gpa, "{s}{s}{s}", .{ dir, if (has_sep) "" else &[_]u8{sep}, name }, 0);
}

/// How to say what a launcher must be named and where it must be, on this OS.
const hints = if (on_windows) .{
    .name = "an entry launcher must be named <entry>.exe, next to the entry script bin\\<entry>; rename it back.",
    .place = "an entry launcher must be in the bin directory of a runtime; copy the whole runtime directory.",
    .copy = "copy the whole runtime directory again.",
    .runtime = "check that the runtime directory is complete and that programs may run from it.",
} else .{
    .name = "an app's main executable must be named like its entry script in Contents/Resources/runtime/bin; rename it back.",
    .place = "an app's main executable must be in Contents/MacOS of the app; copy the whole .app.",
    .copy = "copy the whole .app again.",
    .runtime = "check that the .app is complete and that programs may run from it.",
};

fn run(arena: std.mem.Allocator, args: []const [*:0]const u8, vars: []const [*:0]const u8) (fail.Failed || error{OutOfMemory})!void {
    var buf: [sys.max_path * 3]u8 = undefined;
    const self = sys.selfPath(&buf) catch return fail.record(.cannot_run, "cannot find this program's own file ({s}); run it again by its full path.", .{sys.errnoText(sys.errno())});
    const p = plan(arena, self) catch |e| switch (e) {
        error.OutOfMemory => return error.OutOfMemory,
        error.NotALauncherName => return fail.record(.not_found, "{s}: " ++ hints.name, .{self}),
        error.NotInARuntime => return fail.record(.not_found, "{s}: " ++ hints.place, .{self}),
    };
    fail.context.app = p.name;
    // The interpreter reports a missing script only after it started; say it here, like for python.exe.
    if (sys.statAt(sys.cwd, p.script, true)) |_| {} else |_| if (sys.isNotFound(sys.errno()))
        return missing(p, p.script);

    const argv0: []const u8 = if (args.len > 0) std.mem.span(args[0]) else self;
    var argv: std.ArrayList(?[*:0]const u8) = .empty;
    try argv.appendSlice(arena, &.{ p.python, "-I", p.script });
    if (args.len > 1) for (args[1..]) |a| {
        // Finder gave apps a `-psn_<process serial number>` argument before macOS 10.9; no app wants it.
        if (!on_windows and std.mem.startsWith(u8, std.mem.span(a), "-psn_")) continue;
        try argv.append(arena, a);
    };
    try argv.append(arena, null);
    // -I makes Python ignore PYTHON*; dropping them also keeps them from the app's child processes.
    var env = try envmod.forInterpreter(arena, vars, true);
    try env.append(arena, try std.fmt.allocPrintSentinel(arena, "BUNDLER_ARGV0={s}", .{argv0}, 0));
    try env.append(arena, null);

    const e = sys.exec(p.python, @ptrCast(argv.items.ptr), @ptrCast(env.items.ptr));
    if (sys.isNotFound(e)) return missing(p, p.python);
    return fail.record(.cannot_run, "cannot start {s} ({s}); " ++ hints.runtime, .{ p.python, sys.errnoText(e) });
}

fn missing(p: Plan, path: []const u8) fail.Failed {
    return fail.record(.not_found, "cannot start {s}: {s} is missing; " ++ hints.copy, .{ p.name, path });
}

test planWindows {
    var arena_state = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena_state.deinit();
    const a = arena_state.allocator();
    const p = try planWindows(a, "C:\\Program Files\\app\\bin\\tool.exe");
    try std.testing.expectEqualStrings("tool", p.name);
    try std.testing.expectEqualStrings("C:\\Program Files\\app\\python.exe", p.python);
    try std.testing.expectEqualStrings("C:\\Program Files\\app\\bin\\tool", p.script);
    const upper = try planWindows(a, "\\\\server\\share\\Zoë\\bin\\My.Tool.EXE");
    try std.testing.expectEqualStrings("My.Tool", upper.name);
    try std.testing.expectEqualStrings("\\\\server\\share\\Zoë\\python.exe", upper.python);
    try std.testing.expectEqualStrings("\\\\server\\share\\Zoë\\bin\\My.Tool", upper.script);
    const at_root = try planWindows(a, "C:\\bin\\x.exe");
    try std.testing.expectEqualStrings("C:\\python.exe", at_root.python);
    try std.testing.expectError(error.NotInARuntime, planWindows(a, "C:\\x.exe"));
    try std.testing.expectError(error.NotALauncherName, planWindows(a, "C:\\app\\bin\\tool"));
    try std.testing.expectError(error.NotALauncherName, planWindows(a, "C:\\app\\bin\\.exe"));
}

test planBundle {
    var arena_state = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena_state.deinit();
    const a = arena_state.allocator();
    const p = try planBundle(a, "/Applications/My App.app/Contents/MacOS/tool");
    try std.testing.expectEqualStrings("tool", p.name);
    try std.testing.expectEqualStrings("/Applications/My App.app/Contents/Resources/runtime/bin/python3", p.python);
    try std.testing.expectEqualStrings("/Applications/My App.app/Contents/Resources/runtime/bin/tool", p.script);
    const at_root = try planBundle(a, "/MacOS/x");
    try std.testing.expectEqualStrings("/Resources/runtime/bin/x", at_root.script);
    try std.testing.expectError(error.NotInARuntime, planBundle(a, "x"));
    try std.testing.expectError(error.NotInARuntime, planBundle(a, "MacOS/x"));
}
