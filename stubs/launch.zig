//! Replacing the stub with the runtime's interpreter (execve): exit codes,
//! signals, stdin/stdout and the terminal all belong to Python from then on.
//! Windows has no execve: sys_windows.exec starts the interpreter, waits for
//! it and exits with its exit code.

const std = @import("std");
const sys = @import("sys.zig").Impl;
const fail = @import("fail.zig");
const artifact = @import("artifact.zig");
const envmod = @import("env.zig");
const Env = envmod.Env;

pub const What = enum {
    /// `<python> -I <entry script> ARGS…`
    entry,
    /// `<python> -I ARGS…` (BUNDLER_STUB=python)
    python,
};

pub const Launch = struct {
    args: []const [*:0]const u8,
    env: Env,
    tree: []const u8,
    art: *const artifact.Artifact,
    what: What,
};

/// Execs the interpreter; returns only by failing.
pub fn exec(gpa: std.mem.Allocator, l: Launch) (fail.Failed || error{OutOfMemory}) {
    const isolate = !std.mem.eql(u8, l.env.get("BUNDLER_ISOLATE") orelse "", "0");
    const python = try join(gpa, l.tree, l.art.manifest.python.executable);
    var argv: std.ArrayList(?[*:0]const u8) = .empty;
    try argv.append(gpa, python);
    if (isolate) try argv.append(gpa, "-I");
    var first_user_arg: usize = 1;
    if (l.what == .entry) {
        const choice = try chooseEntry(l);
        try argv.append(gpa, try join(gpa, l.tree, choice.script));
        if (choice.by_argument) first_user_arg = 2;
    }
    if (l.args.len > first_user_arg) for (l.args[first_user_arg..]) |a| try argv.append(gpa, a);
    try argv.append(gpa, null);
    const envp = try environment(gpa, l, isolate);
    const e = sys.exec(python, @ptrCast(argv.items.ptr), @ptrCast(envp.ptr));
    if (sys.isNotPermitted(e)) return fail.record(
        .exec_failed,
        "cannot start {s} ({s}); " ++ sys.exec_denied_hint,
        .{ python, sys.errnoText(e) },
    );
    return fail.record(.exec_failed, "cannot start {s} ({s}); delete {s} so that the next run unpacks it again.", .{ python, sys.errnoText(e), l.tree });
}

/// The name the user ran (argv[0]), or the artifact's path if there is none.
fn argv0(l: Launch) []const u8 {
    return if (l.args.len > 0) std.mem.span(l.args[0]) else l.art.path;
}

pub const Choice = struct {
    script: []const u8,
    /// The first user argument named the entry point (and is not passed on).
    by_argument: bool = false,
};

/// Busybox style: the entry point named like the program (`basename(argv[0])`,
/// minus `.exe`); else, when there are several, the one named by the first
/// argument; else the default one.
pub fn chooseEntry(l: Launch) fail.Failed!Choice {
    const eps = &l.art.manifest.entry_points.map;
    var name = basename(argv0(l));
    if (hasExeSuffix(name)) name = name[0 .. name.len - 4];
    if (eps.get(name)) |script| return .{ .script = script };
    if (eps.count() > 1 and l.args.len > 1) {
        if (eps.get(std.mem.span(l.args[1]))) |script| return .{ .script = script, .by_argument = true };
    }
    const default = l.art.manifest.default_entry orelse return fail.damaged("the manifest names no default entry point", .{});
    return .{ .script = eps.get(default) orelse return fail.damaged("the default entry point {s} is not in the manifest", .{default}) };
}

const basename = sys.basename;

/// ".exe" (any case where names ignore case: APP.EXE is app.exe on Windows).
fn hasExeSuffix(name: []const u8) bool {
    if (name.len < 4) return false;
    const tail = name[name.len - 4 ..];
    return if (sys.names_ignore_case) std.ascii.eqlIgnoreCase(tail, ".exe") else std.mem.eql(u8, tail, ".exe");
}

/// *dir* joined with a manifest path (which is '/'-separated), in the OS's form.
fn join(gpa: std.mem.Allocator, dir: []const u8, rel: []const u8) error{OutOfMemory}![:0]const u8 {
    const out = try std.fmt.allocPrintSentinel(gpa, "{s}" ++ .{sys.sep} ++ "{s}", .{ dir, rel }, 0);
    if (sys.sep != '/') std.mem.replaceScalar(u8, out[dir.len..], '/', sys.sep);
    return out;
}

/// The caller's environment minus the PYTHON* variables that would redirect
/// the interpreter, plus BUNDLER_ARTIFACT and BUNDLER_ARGV0.
fn environment(gpa: std.mem.Allocator, l: Launch, isolate: bool) error{OutOfMemory}![]?[*:0]const u8 {
    var out = try envmod.forInterpreter(gpa, l.env.vars, isolate);
    try out.append(gpa, try std.fmt.allocPrintSentinel(gpa, "BUNDLER_ARTIFACT={s}", .{l.art.path}, 0));
    try out.append(gpa, try std.fmt.allocPrintSentinel(gpa, "BUNDLER_ARGV0={s}", .{argv0(l)}, 0));
    try out.append(gpa, null);
    return out.items;
}
