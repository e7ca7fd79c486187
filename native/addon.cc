// Module init: the export table, per-environment state, teardown, and the
// argument helpers. Context-aware: no JS values in statics, so the addon
// loads in worker_threads and twice in one process.
#include "addon.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "async_call.h"
#include "sockaddr.h"
#include "sockopt.h"
#include "trace.h"

namespace bsd {

void ExportFunction(Napi::Env env, Napi::Object exports, const char* name,
                    Napi::Function::Callback fn, AddonData* data) {
  exports.Set(name, Napi::Function::New(env, fn, name, data));
}

int IntArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  // One N-API call: napi_get_value_double fails (number expected) for a
  // non-number.
  double d;
  if (napi_get_value_double(info.Env(), info[i], &d) != napi_ok) {
    throw Napi::TypeError::New(info.Env(),
                               std::string(name) + " must be a number");
  }
  return static_cast<int>(CheckIntegral(
      info.Env(), d, -2147483648.0, 2147483647.0, name, "a 32-bit integer"));
}

double CheckIntegral(Napi::Env env, double d, double min, double max,
                     const std::string& name, const char* what) {
  if (!(d >= min && d <= max) || d != std::trunc(d)) {
    throw Napi::RangeError::New(env, name + " must be " + what);
  }
  return d;
}

double IntegralValue(Napi::Env env, Napi::Value v, double min, double max,
                     const std::string& name, const char* what) {
  if (!v.IsNumber())
    throw Napi::TypeError::New(env, name + " must be a number");
  return CheckIntegral(env, v.As<Napi::Number>().DoubleValue(), min, max, name,
                       what);
}

BufferRef ViewBytes(napi_env env, napi_value value, const char* name) {
  void* data = nullptr;
  size_t byte_length = 0;
  napi_typedarray_type type = napi_uint8_array;
  size_t length = 0;
  // The hot path (read/write of a Buffer) in one N-API call, which fails for
  // anything not a TypedArray; the ArrayBuffer and offset are not asked for.
  if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr,
                               nullptr) == napi_ok) {
    size_t element_size;
    switch (type) {
      case napi_int8_array:
      case napi_uint8_array:
      case napi_uint8_clamped_array:
        element_size = 1;
        break;
      case napi_int16_array:
      case napi_uint16_array:
        element_size = 2;
        break;
      case napi_int32_array:
      case napi_uint32_array:
      case napi_float32_array:
        element_size = 4;
        break;
      case napi_float64_array:
      case napi_bigint64_array:
      case napi_biguint64_array:
        element_size = 8;
        break;
      default:  // A kind newer than this build (Float16Array): no guessing.
        throw Napi::TypeError::New(
            env, std::string(name) + ": unsupported TypedArray kind");
    }
    byte_length = length * element_size;
  } else {
    bool is_data_view = false;
    napi_is_dataview(env, value, &is_data_view);
    if (!is_data_view)
      throw Napi::TypeError::New(
          env, std::string(name) + " must be an ArrayBufferView");
    napi_get_dataview_info(env, value, &byte_length, &data, nullptr, nullptr);
  }
  return {data, byte_length};
}

BufferRef BufferArg(const Napi::CallbackInfo& info, size_t i, size_t n) {
  napi_env env = info.Env();
  auto [data, byte_length] = ViewBytes(env, info[i], "buf");
  int nbytes = IntArg(info, n, "nbytes");
  if (nbytes < 0 || static_cast<size_t>(nbytes) > byte_length) {
    throw Napi::RangeError::New(env,
                                "nbytes must be from 0 to buf.byteLength (" +
                                    std::to_string(byte_length) + ")");
  }
  return {data, static_cast<size_t>(nbytes)};
}

bool MakeCallback(AddonData* data, napi_value fn, size_t argc,
                  const napi_value* argv) {
  napi_env env = data->env;
  napi_value recv, ignored;
  napi_get_global(env, &recv);  // napi_make_callback needs an object receiver.
  napi_status s = napi_make_callback(env, data->async_context, recv, fn, argc,
                                     argv, &ignored);
  if (s == napi_ok) return true;
  if (s != napi_pending_exception) return false;
  // fn threw (it ran), or JS cannot run any more (no exception to take).
  napi_value error;
  napi_valuetype type = napi_undefined;
  if (napi_get_and_clear_last_exception(env, &error) != napi_ok ||
      napi_typeof(env, error, &type) != napi_ok || type == napi_undefined) {
    return false;
  }
  napi_fatal_exception(env, error);
  return true;
}

void DefineElement(Napi::Object array, uint32_t index, Napi::Value value) {
  array.DefineProperty(Napi::PropertyDescriptor::Value(
      std::to_string(index), value, napi_default_jsproperty));
}

namespace {

// The size libuv gave its pool: UV_THREADPOOL_SIZE as read when the pool
// started (clamped to 1..1024, default 4). The pool starts on first use,
// after this process's environment was set, so reading it here agrees.
int ThreadpoolSize() {
  const char* value = std::getenv("UV_THREADPOOL_SIZE");
  int size = value != nullptr ? std::atoi(value) : 4;
  if (size <= 0) size = 1;
  if (size > 1024) size = 1024;
  return value != nullptr ? size : 4;
}

// Environment teardown (worker_thread end, main thread exit): wake every
// call in flight, then run the loop until each has come back, so libuv's
// loop closes with no request outstanding and no pool thread stays blocked.
void Teardown(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  data->tearing_down = true;
  CancelAll(data, ECANCELED);
  CloseAllWatchers(data);
  while (!data->calls.empty() || !data->watchers.empty() ||
         data->watch_flush_open || data->watch_guard_open) {
    uv_run(data->loop, UV_RUN_ONCE);
  }
  napi_async_destroy(data->env, data->async_context);
  if (data->termination_probe != nullptr)
    napi_delete_reference(data->env, data->termination_probe);
  if (data->watch_queue != nullptr)
    napi_delete_reference(data->env, data->watch_queue);
  delete data;
}

Napi::Value Cancel(const Napi::CallbackInfo& info) {
  uint32_t id = static_cast<uint32_t>(IntArg(info, 0, "id"));
  return Napi::Boolean::New(
      info.Env(), CancelCall(DataOf(info), id, IntArg(info, 1, "errno")));
}

// process.on('exit'): Node joins the pool threads (libuv's library
// shutdown) and the worker_threads after 'exit', so every blocked call must
// be woken before that: this environment's, and on the main thread every
// call of the process (worker_threads' *Sync calls included).
Napi::Value CancelAllExport(const Napi::CallbackInfo& info) {
  CancelAll(DataOf(info), ECANCELED);
  if (!DataOf(info)->worker_thread) CancelAllInFlight(ECANCELED);
  return info.Env().Undefined();
}

Napi::Value ThreadIdExport(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ThreadId());
}

}  // namespace

Napi::Value LeakCheck(const Napi::CallbackInfo& info);  // sanitizer.cc

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->env = env;
  NAPI_THROW_IF_FAILED(env, napi_get_uv_event_loop(env, &data->loop), exports);
  NAPI_THROW_IF_FAILED(
      env,
      napi_async_init(env, nullptr, Napi::String::New(env, "bsd-sockets"),
                      &data->async_context),
      exports);
  Napi::Float64Array slots = Napi::Float64Array::New(env, 3);
  data->trace_slots = Napi::Persistent(slots);
  Napi::Uint32Array scratch = Napi::Uint32Array::New(env, 3);
  data->addr_scratch = Napi::Persistent(scratch);
  data->addr_scratch_data = scratch.Data();
  NAPI_THROW_IF_FAILED(env, napi_add_env_cleanup_hook(env, Teardown, data),
                       exports);
  data->worker_thread = !IsMainThread();
  if (data->worker_thread) {
    napi_value probe;
    NAPI_THROW_IF_FAILED(
        env,
        napi_run_script(
            env, Napi::String::New(env, "(function bsdSocketsProbe() {})"),
            &probe),
        exports);
    NAPI_THROW_IF_FAILED(
        env, napi_create_reference(env, probe, 1, &data->termination_probe),
        exports);
  }

  // SAFETY: the counters are a process-wide static that outlives every
  // environment; lock-free std::atomic<int64_t> has int64_t's layout.
  static_assert(std::atomic<int64_t>::is_always_lock_free);
  Napi::ArrayBuffer counters = Napi::ArrayBuffer::New(
      env, static_cast<void*>(&g_pool_counters), sizeof(g_pool_counters));
  napi_value counters_view;
  NAPI_THROW_IF_FAILED(env,
                       napi_create_typedarray(env, napi_bigint64_array, 1,
                                              counters, 0, &counters_view),
                       exports);
  exports.Set("poolCounters", counters_view);
  exports.Set("poolSize", Napi::Number::New(env, ThreadpoolSize()));
  exports.Set("traceSlots", slots);
  exports.Set("addrScratch", scratch);
  ExportFunction(env, exports, "packSockaddr", PackSockaddr, data);
  exports.Set("mainThreadId", Napi::Number::New(env, ThreadId()));
  exports.Set("sunPathSize",
              Napi::Number::New(env, static_cast<double>(SunPathSize())));
  exports.Set("constants", Constants(env));
  ExportFunction(env, exports, "cancel", Cancel, data);
  ExportFunction(env, exports, "cancelAll", CancelAllExport, data);
  ExportFunction(env, exports, "threadId", ThreadIdExport, data);
  ExportFunction(env, exports, "leakCheck", LeakCheck, data);
  InitCalls(env, exports, data);
  InitSockopt(env, exports, data);
  InitEpoll(env, exports, data);
  InitWatch(env, exports, data);
  return exports;
}

}  // namespace bsd

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return bsd::Init(env, exports);
}

NODE_API_MODULE(bsd_sockets, InitAddon)
