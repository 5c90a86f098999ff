#include "audit.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "shewhart/engine/store/audit.h"
#include "shewhart/engine/model/json.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::app {

namespace {

// Opens an existing store (Store::Open would create a missing one, which has nothing to audit).
Result<std::unique_ptr<engine::Store>> OpenExisting(const std::string& path) {
  std::error_code ec;
  if (path != ":memory:" && !std::filesystem::exists(path, ec)) return NotFound("no store at '" + path + "'");
  return engine::Store::Open(path);
}

}  // namespace

int AuditVerify(const std::string& store_path) {
  auto store = OpenExisting(store_path);
  if (!store.ok()) {
    std::fprintf(stderr, "shewhart audit verify: %s\n", store.status().message().c_str());
    return 2;
  }
  auto v = engine::VerifyAuditLog(**store);
  if (!v.ok()) {
    std::fprintf(stderr, "shewhart audit verify: %s\n", v.status().message().c_str());
    return 2;
  }
  if (!v->intact) {
    std::printf("%s\n", v->problem.c_str());
    std::printf("chain broken at record %lld: %lld record%s before it verified (last good hash %s)\n",
                static_cast<long long>(v->broken_seq), static_cast<long long>(v->verified),
                v->verified == 1 ? "" : "s", v->last_hash.c_str());
    return 1;
  }
  std::printf("%lld record%s verified, chain intact (last hash %s)\n", static_cast<long long>(v->verified),
              v->verified == 1 ? "" : "s", v->last_hash.c_str());
  // The tables the interlock answers from must say what the chain says.
  auto holds = engine::CrossCheckHolds(**store);
  if (!holds.ok()) {
    std::fprintf(stderr, "shewhart audit verify: %s\n", holds.status().message().c_str());
    return 2;
  }
  if (holds->mismatches > 0) {
    for (const auto& p : holds->problems) std::printf("%s\n", p.c_str());
    std::printf("held units differ from the audit log: %lld mismatch%s in %lld units checked\n",
                static_cast<long long>(holds->mismatches), holds->mismatches == 1 ? "" : "es",
                static_cast<long long>(holds->checked));
    return 1;
  }
  std::printf("%lld held unit%s match the audit log%s\n", static_cast<long long>(holds->checked),
              holds->checked == 1 ? "" : "s",
              holds->skipped
                  ? (" (" + std::to_string(holds->skipped) + " of holds created before the anchor not checked)").c_str()
                  : "");
  if (v->anchor_seq > 0) {
    std::printf(
        "records 1-%lld were pruned by retention; the chain starts from record %lld's hash (the store's anchor)\n",
        static_cast<long long>(v->anchor_seq), static_cast<long long>(v->anchor_seq));
  }
  return 0;
}

int AuditExport(const std::string& store_path, std::int64_t from_seq) {
  auto store = OpenExisting(store_path);
  if (!store.ok()) {
    std::fprintf(stderr, "shewhart audit export: %s\n", store.status().message().c_str());
    return 2;
  }
  constexpr int kPage = 1000;
  std::int64_t after = from_seq > 0 ? from_seq - 1 : 0;
  for (;;) {
    auto page = (*store)->ReadAudit(after, kPage);
    if (!page.ok()) {
      std::fprintf(stderr, "shewhart audit export: %s\n", page.status().message().c_str());
      return 2;
    }
    if (page->empty()) return 0;
    for (const auto& r : *page) {
      engine::Json j{{"seq", r.seq}, {"ts", engine::FormatRfc3339(r.ts)}, {"kind", r.kind}, {"subject", r.subject},
                     {"actor", r.actor}};
      // The body as an object; a body that is no longer JSON (a tampered store) as its text.
      engine::Json body = engine::Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
      if (body.is_discarded()) {
        j["body"] = r.body;
        j["body_invalid"] = true;
      } else {
        j["body"] = std::move(body);
      }
      j["prev_hash"] = r.prev_hash;
      j["hash"] = r.hash;
      std::string line = j.dump(-1, ' ', false, engine::Json::error_handler_t::replace);
      line += '\n';
      std::fwrite(line.data(), 1, line.size(), stdout);
      after = r.seq;
    }
  }
}

std::string OsActor() {
  const uid_t uid = geteuid();
  if (const passwd* pw = getpwuid(uid); pw && pw->pw_name) return std::string("os:") + pw->pw_name;
  return "os:uid-" + std::to_string(uid);
}

}  // namespace shewhart::app
