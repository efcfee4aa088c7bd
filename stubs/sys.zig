//! The operating-system layer, chosen at compile time. Everything that is
//! specific to one OS lives in `sys_<os>.zig`; the rest of the stub is portable.

const builtin = @import("builtin");

pub const Impl = switch (builtin.os.tag) {
    .linux => @import("sys_linux.zig"),
    .macos => @import("sys_macos.zig"),
    .windows => @import("sys_windows.zig"),
    else => @compileError("no stub for this OS: add a sys_<os>.zig with the same declarations as sys_linux.zig"),
};
