//! The entry launcher of a Windows runtime directory: `bin\<entry>.exe`, next
//! to the entry script `bin\<entry>`, does for the `dir` and archive outputs
//! what the single-file stub does after unpacking. Started as `D\N.exe`, it
//! runs `D\..\python.exe -I D\N ARGS…` (sys_windows.exec: every argument
//! quoted for the C runtime, the console shared, Ctrl-C left to Python), waits
//! and exits with the interpreter's exit code. No path is built in: the
//! directory is wherever the launcher's own file is, so a copied or moved
//! runtime directory keeps working. stubs/README.md, "The entry launcher".

const std = @import("std");
const sys = @import("sys.zig").Impl;
const fail = @import("fail.zig");
const envmod = @import("env.zig");

/// The interpreter at the root of a Windows runtime (bundler/runtime/stage.py, stage_windows).
const python_name = "python.exe";

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
    /// The entry point: the launcher's file name without `.exe`.
    name: []const u8,
    python: [:0]const u8,
    script: [:0]const u8,
};

pub const PlanError = error{ NotALauncherName, NotInARuntime, OutOfMemory };

/// `D\N.exe` → `D\..\python.exe` (as `D`'s parent, without `..`) and `D\N`.
pub fn plan(gpa: std.mem.Allocator, self: []const u8) PlanError!Plan {
    const file = std.fs.path.basenameWindows(self);
    if (file.len <= 4 or !std.ascii.eqlIgnoreCase(file[file.len - 4 ..], ".exe")) return error.NotALauncherName;
    const bin = std.fs.path.dirnameWindows(self) orelse return error.NotInARuntime;
    const root = std.fs.path.dirnameWindows(bin) orelse return error.NotInARuntime;
    const name = file[0 .. file.len - 4];
    return .{ .name = name, .python = try join(gpa, root, python_name), .script = try join(gpa, bin, name) };
}

/// *dir* and *name* with one `\` between them (a root such as `C:\` has one already).
fn join(gpa: std.mem.Allocator, dir: []const u8, name: []const u8) error{OutOfMemory}![:0]const u8 {
    const has_sep = dir.len > 0 and (dir[dir.len - 1] == '\\' or dir[dir.len - 1] == '/');
    return std.fmt.allocPrintSentinel(gpa, "{s}{s}{s}", .{ dir, if (has_sep) "" else "\\", name }, 0);
}

fn run(arena: std.mem.Allocator, args: []const [*:0]const u8, vars: []const [*:0]const u8) (fail.Failed || error{OutOfMemory})!void {
    var buf: [sys.max_path * 3]u8 = undefined;
    const self = sys.selfPath(&buf) catch return fail.record(.cannot_run, "cannot find this program's own file ({s}); run it again by its full path.", .{sys.errnoText(sys.errno())});
    const p = plan(arena, self) catch |e| switch (e) {
        error.OutOfMemory => return error.OutOfMemory,
        error.NotALauncherName => return fail.record(.not_found, "{s}: an entry launcher must be named <entry>.exe, next to the entry script bin\\<entry>; rename it back.", .{self}),
        error.NotInARuntime => return fail.record(.not_found, "{s}: an entry launcher must be in the bin directory of a runtime; copy the whole runtime directory.", .{self}),
    };
    fail.context.app = p.name;
    // The interpreter reports a missing script only after it started; say it here, like for python.exe.
    if (sys.statAt(sys.cwd, p.script, true)) |_| {} else |_| if (sys.isNotFound(sys.errno()))
        return missing(p, p.script);

    const argv0: []const u8 = if (args.len > 0) std.mem.span(args[0]) else self;
    var argv: std.ArrayList(?[*:0]const u8) = .empty;
    try argv.appendSlice(arena, &.{ p.python, "-I", p.script });
    if (args.len > 1) for (args[1..]) |a| try argv.append(arena, a);
    try argv.append(arena, null);
    // -I makes Python ignore PYTHON*; dropping them also keeps them from the app's child processes.
    var env = try envmod.forInterpreter(arena, vars, true);
    try env.append(arena, try std.fmt.allocPrintSentinel(arena, "BUNDLER_ARGV0={s}", .{argv0}, 0));
    try env.append(arena, null);

    const e = sys.exec(p.python, @ptrCast(argv.items.ptr), @ptrCast(env.items.ptr));
    if (sys.isNotFound(e)) return missing(p, p.python);
    return fail.record(.cannot_run, "cannot start {s} ({s}); check that the runtime directory is complete and that programs may run from it.", .{ p.python, sys.errnoText(e) });
}

fn missing(p: Plan, path: []const u8) fail.Failed {
    return fail.record(.not_found, "cannot start {s}: {s} is missing; copy the whole runtime directory again.", .{ p.name, path });
}

test plan {
    var arena_state = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena_state.deinit();
    const a = arena_state.allocator();
    const p = try plan(a, "C:\\Program Files\\app\\bin\\tool.exe");
    try std.testing.expectEqualStrings("tool", p.name);
    try std.testing.expectEqualStrings("C:\\Program Files\\app\\python.exe", p.python);
    try std.testing.expectEqualStrings("C:\\Program Files\\app\\bin\\tool", p.script);
    const upper = try plan(a, "\\\\server\\share\\Zoë\\bin\\My.Tool.EXE");
    try std.testing.expectEqualStrings("My.Tool", upper.name);
    try std.testing.expectEqualStrings("\\\\server\\share\\Zoë\\python.exe", upper.python);
    try std.testing.expectEqualStrings("\\\\server\\share\\Zoë\\bin\\My.Tool", upper.script);
    const at_root = try plan(a, "C:\\bin\\x.exe");
    try std.testing.expectEqualStrings("C:\\python.exe", at_root.python);
    try std.testing.expectError(error.NotInARuntime, plan(a, "C:\\x.exe"));
    try std.testing.expectError(error.NotALauncherName, plan(a, "C:\\app\\bin\\tool"));
    try std.testing.expectError(error.NotALauncherName, plan(a, "C:\\app\\bin\\.exe"));
}
