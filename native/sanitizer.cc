// leakCheck(): LeakSanitizer's check on demand, for a sanitizer build
// (npm run test:asan). Test workers are killed before LSan's own check at
// exit, so a test asks for it itself: every allocation no pointer reaches
// any more is printed to stderr (minus test/lsan.supp's suppressions).
// Returns 0 when nothing leaked, 1 when something did, and -1 in a build
// without AddressSanitizer, where there is nothing to ask.
#include <napi.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace bsd {

Napi::Value LeakCheck(const Napi::CallbackInfo& info) {
#if defined(__SANITIZE_ADDRESS__)
  return Napi::Number::New(info.Env(), __lsan_do_recoverable_leak_check());
#else
  return Napi::Number::New(info.Env(), -1);
#endif
}

}  // namespace bsd
