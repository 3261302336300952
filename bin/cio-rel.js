#!/usr/bin/env -S node --max-old-space-size=1024
// The heap ceiling is far above what cio-rel holds (a bounded window and the batches in flight), and
// setting one keeps V8 from growing the heap freely between collections: peak RSS stays under 200 MB.
import "../dist/main.js";
