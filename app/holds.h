#pragma once
// `shewhart holds list|show|export` (against a store) and `shewhart holds dispose|status`
// (through a running engine's HTTP API: POST /api/holds/ID/dispose with a bearer token, GET
// /api/units/SERIAL).

#include <string>
#include <vector>

namespace shewhart::app {

struct HoldsCommand {
  std::string store_path;                     // list, show, export: an existing store
  bool json = false;
  long long hold_id = 0;                      // show, export, dispose
  std::string format = "csv";                 // export: csv | json
  std::string url = "http://127.0.0.1:9464";  // dispose, status: the engine's http.listen
  std::string token, token_file;              // dispose
  std::string state, reason, meaning, note;   // dispose
  std::vector<std::string> serials;           // dispose: these units...
  bool all = false;                           // ...or every unit still held,
  std::vector<std::string> exclude;           // ...less these
  std::string serial;                         // status
};

// Every held unit with its hold and alarm (a table, or JSON lines), then one line per hold.
// Exit 0, or 2 when the store is missing or unreadable.
int HoldsList(const HoldsCommand& c);
// One hold: its units with their states, then its dispositions. Exit 1 for an unknown hold.
int HoldsShow(const HoldsCommand& c);
// The recall list of one hold: every unit it took with its state, route (stations and times),
// machines, operators, lots and assemblies, as CSV (a header row) or JSON lines. Exit 1 for an
// unknown hold.
int HoldsExport(const HoldsCommand& c);
// Disposes of held units of a hold. Exit 0 done; 1 refused by the engine (4xx: unknown code,
// a unit not held, bad token); 2 usage or environment (no token, neither or both of --serial
// and --all, engine unreachable, 5xx).
int HoldsDispose(const HoldsCommand& c);
// The MES interlock for one unit: "free", or "held" with the holds. Exit 0 either way; 2 when
// the engine cannot be asked.
int HoldsStatus(const HoldsCommand& c);

}  // namespace shewhart::app
