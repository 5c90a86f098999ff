#pragma once
// What the store-reading commands (`trace`, `holds`) share: opening an existing store and
// printing an aligned table.

#include <memory>
#include <string>
#include <vector>

#include "shewhart/engine/store/store.h"

namespace shewhart::app {

// Opens the store at `path`, which must exist (Store::Open would create a missing one, which
// holds nothing). On failure prints "shewhart COMMAND: why" to stderr and returns null.
std::unique_ptr<engine::Store> OpenExistingStore(const std::string& path, const std::string& command);

// Prints `rows` under `header` in columns two spaces apart, each as wide as its widest cell;
// the last column is not padded.
void PrintTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

}  // namespace shewhart::app
