// Per-environment state (one per main thread or worker_thread that loads the
// addon) and the argument helpers every export uses.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace bsd {

class AsyncCallBase;

struct AddonData {
  napi_env env = nullptr;
  uv_loop_t* loop = nullptr;
  napi_async_context async_context = nullptr;
  // Calls queued or running, by id, so cancel(id) and teardown can find them.
  std::unordered_map<uint32_t, AsyncCallBase*> calls;
  uint32_t next_id = 1;
  // [threadId, queuedNs, runNs] of the async call being settled, read by
  // lib/trace.ts.
  Napi::Reference<Napi::Float64Array> trace_slots;
  // [family, port, IPv4 address] of the last address AddressOut gave back.
  Napi::Reference<Napi::Uint32Array> addr_scratch;
  uint32_t* addr_scratch_data = nullptr;
  bool tearing_down = false;
  // A worker_thread's environment: its *Sync calls wait wakeably
  // (async_call.h).
  bool worker_thread = false;
  napi_ref termination_probe = nullptr;
  // watch() handles by id; a handle leaves the map when uv_close completes.
  std::unordered_map<uint32_t, struct PollWatcher*> watchers;
  // The same handles by fd, those not closing: one per fd (watch.cc).
  std::unordered_map<int, struct PollWatcher*> watcher_fds;
  uint32_t next_watcher_id = 1;
  // watch() readiness of one loop iteration's poll phase, delivered to JS in
  // one call from a check handle (watch.cc): [count, next, (id, status,
  // revents, owner)*], read by lib/watch.ts's dispatcher. One dispatcher per
  // evaluation of lib/watch.ts (two copies of the library may share this
  // addon); a watcher's owner is the index of the one that started it.
  uv_check_t watch_flush;
  bool watch_flush_open = false;
  // Watchers started or updated since the loop last polled, checked by a
  // prepare handle just before it polls (watch.cc Guard).
  uv_prepare_t watch_guard;
  bool watch_guard_open = false;
  std::vector<uint32_t> watch_unchecked;
  std::vector<Napi::FunctionReference> watch_dispatchers;
  napi_ref watch_queue = nullptr;  // A raw ref: Napi::Int32Array's wrapper
                                   // re-reads the array's info.
  int32_t* watch_queue_data = nullptr;
  uint32_t watch_queue_capacity = 0;
  uint32_t watch_batch = 1;  // Which Flush the queued entries are for.
};

inline AddonData* DataOf(const Napi::CallbackInfo& info) {
  return static_cast<AddonData*>(info.Data());
}

// Argument readers. lib/validate.ts has already checked every argument; these
// re-check what memory safety depends on and throw TypeError/RangeError (not
// crash) should a bad value get through.
// exports[name] = a function calling fn with `data` as its AddonData.
void ExportFunction(Napi::Env env, Napi::Object exports, const char* name,
                    Napi::Function::Callback fn, AddonData* data);

int IntArg(const Napi::CallbackInfo& info, size_t i, const char* name);
// `d` when it is an integer from `min` to `max`, else a RangeError "<name>
// must be <what>". (A double holds every integer up to 2^53.)
double CheckIntegral(Napi::Env env, double d, double min, double max,
                     const std::string& name, const char* what);
// The same for a JS value, which must be a number (else a TypeError).
double IntegralValue(Napi::Env env, Napi::Value v, double min, double max,
                     const std::string& name, const char* what);
struct BufferRef {
  void* data;
  size_t length;
};
// The bytes of an ArrayBufferView (`name` for the error if it is not one).
BufferRef ViewBytes(napi_env env, napi_value value, const char* name);
// The bytes of an ArrayBufferView at info[i], limited to `nbytes` at info[n].
BufferRef BufferArg(const Napi::CallbackInfo& info, size_t i, size_t n);

// Calls fn(argv) from a libuv callback (the caller holds a HandleScope):
// microtasks (promise reactions) run after it, and an exception it throws
// goes to process 'uncaughtException', as for Node's own callbacks. False
// when fn could not run at all (the environment is ending): whatever argv
// carries never reached JS.
bool MakeCallback(AddonData* data, napi_value fn, size_t argc,
                  const napi_value* argv);

// array[index] = value as a data property (Object.defineProperty), never
// through a setter a script put on Array.prototype.
void DefineElement(Napi::Object array, uint32_t index, Napi::Value value);

Napi::Object Constants(Napi::Env env);
void InitCalls(Napi::Env env, Napi::Object exports, AddonData* data);
void InitSockopt(Napi::Env env, Napi::Object exports, AddonData* data);
void InitEpoll(Napi::Env env, Napi::Object exports, AddonData* data);
void InitWatch(Napi::Env env, Napi::Object exports, AddonData* data);
// Closes every watch() handle of the environment and its flush handle
// (teardown).
void CloseAllWatchers(AddonData* data);

}  // namespace bsd
