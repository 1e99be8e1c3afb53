"""The pure core: plain values in, plain values out; no I/O, no SDK, no logging; the clock is a parameter."""
