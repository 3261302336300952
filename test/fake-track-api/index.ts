// The fake Track API every sending test talks to (issue 3). See README.md beside this file.

export { startFakeTrackApi } from "./server.js";
export type { Counters, FakeOptions, FakeTrackApi, ReceivedRequest } from "./server.js";
export { FaultController } from "./faults.js";
export type { Fault, FaultSettings, FaultSettingsUpdate, RetryAfter } from "./faults.js";
export { CIO_OBJECT_TYPE, RelationshipState } from "./state.js";
export type { Attributes, ObjectKey, PersonKeyValue, PersonRelationship, StoredRelationship } from "./state.js";
export { BATCH_LIMIT_BYTES, OP_LIMIT_BYTES, opBytes, validateOp } from "./validation.js";
export type { OpError } from "./validation.js";
