"""Relocation: plan which libraries to vendor, apply the rewrite, verify the result, per target kits and policies."""
