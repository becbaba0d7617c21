"""orderlab's library: learned-order masked diffusion (docs/design.md; the README lists every file)."""
