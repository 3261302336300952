#!/usr/bin/env node
// A plain `env node`: BusyBox's env (Alpine images, many CI jobs) has no -S to pass node flags.
import "../dist/main.js";
