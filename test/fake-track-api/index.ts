// The fake Track API every sending test talks to (issue 3). See README.md beside this file.

export { startFakeTrackApi } from "./server.js";
export type {
  Counters,
  FakeAppApi,
  FakeOptions,
  FakePipelinesApi,
  FakeTrackApi,
  PipelinesCall,
  PipelinesCounters,
  ReceivedRequest,
} from "./server.js";
export {
  PIPELINES_CALL_LIMIT_BYTES,
  PIPELINES_REQUEST_LIMIT_BYTES,
  PIPELINES_ROUTE,
  RELATIONSHIP_DELETED,
  answerPipelines,
  callBytes,
  judgeCall,
} from "./pipelines.js";
export type { CallForm, CallVerdict, PipelinesEndpoint, PipelinesWrite } from "./pipelines.js";
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
