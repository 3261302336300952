// The fake Track API every sending test talks to (issue 3). See README.md beside this file.

export { startFakeTrackApi } from "./server.js";
export type { Counters, FakeAppApi, FakeOptions, FakeTrackApi, ReceivedRequest } from "./server.js";
export { APP_ROUTE, DEFAULT_APP_SETTINGS, appError } from "./app-api.js";
export type { AppSettings } from "./app-api.js";
export { FaultController } from "./faults.js";
export type { Fault, FaultSettings, FaultSettingsUpdate, RetryAfter } from "./faults.js";
export { CIO_OBJECT_TYPE, DEFAULT_OBJECT_TYPES, RelationshipState, WorkspaceStore } from "./state.js";
export type {
  Attributes,
  LinkView,
  ObjectKey,
  ObjectType,
  Person,
  PersonKeyValue,
  PersonRelationship,
  StoredRelationship,
  WorkspaceObject,
} from "./state.js";
export { BATCH_LIMIT_BYTES, OP_LIMIT_BYTES, opBytes, validateOp } from "./validation.js";
export type { OpError } from "./validation.js";
