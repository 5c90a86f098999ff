#pragma once
// A read-only YAML document tree for the config loader, private to engine/config.
//
// yaml-cpp's tree (YAML::Load) costs about 13 KB and 60 us per characteristic of a generated
// config and grows worse than linearly (100 000 characteristics: 6 s and 1.3 GB for the tree
// alone), and yaml-cpp's parser alone takes 3.1 s over those 22 MB, libyaml's 0.44 s. This
// tree is built from libyaml's parser events into two flat arrays: one record per node and
// one array of child indexes. Node is a small handle with the subset of YAML::Node's
// interface the loader uses, with the same meaning:
//  * a lookup of a missing key (or of an index past the end, or on a node that is not a
//    mapping or a list) gives an undefined node, false in a boolean context;
//  * a default-constructed Node is a detached null (defined, IsNull, no mark: line and column
//    -1), as YAML::Node() is;
//  * a mapping keeps every pair in document order, repeated keys included (the loader reports
//    them); a lookup gives the value of the first pair whose key is the scalar asked for;
//  * an alias is the node its anchor names (shared, not copied), which must be complete before
//    it in the same document (so a tree never holds a cycle);
//  * a plain scalar without a tag spelled '', '~', 'null', 'Null' or 'NULL' is a null;
//    quoted, it is a string (YAML 1.2's core schema, as yaml-cpp reads it).
//
// Threading: a YamlTree is immutable once parsed and may be read from any thread. Lifetime:
// a Node points into its tree; it must not outlive the YamlDocuments that made it.
// Allocation: parsing allocates the two arrays and each scalar's string; reading allocates
// nothing.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace shewhart::engine::config_loader {

enum class NodeType { Undefined, Null, Scalar, Sequence, Map };

// A node's position: 0-based line and column, as YAML::Mark (-1 for a detached node).
struct NodeMark {
  int line = -1;
  int column = -1;
};

class YamlTree;
class NodeIterator;

class Node {
 public:
  // A detached null (YAML::Node()).
  Node() = default;
  // What a lookup of a missing key gives.
  static Node Undefined() { return Node(nullptr, kUndefined); }

  bool IsDefined() const { return index_ != kUndefined; }
  explicit operator bool() const { return IsDefined(); }
  NodeType Type() const;
  bool IsNull() const { return Type() == NodeType::Null; }
  bool IsScalar() const { return Type() == NodeType::Scalar; }
  bool IsSequence() const { return Type() == NodeType::Sequence; }
  bool IsMap() const { return Type() == NodeType::Map; }
  // The scalar's text; empty for any other node.
  const std::string& Scalar() const;
  NodeMark Mark() const;
  // Elements of a list, pairs of a mapping; 0 otherwise.
  std::size_t size() const;

  // The value of the first pair whose key is the scalar `key`; undefined when none.
  Node operator[](std::string_view key) const;
  Node operator[](const char* key) const { return (*this)[std::string_view(key)]; }
  Node operator[](const std::string& key) const { return (*this)[std::string_view(key)]; }
  // Element `i` of a list; undefined past its end or on another node.
  Node operator[](std::size_t i) const;
  Node operator[](int i) const { return (*this)[static_cast<std::size_t>(i)]; }

  // Over a list: its elements (each entry is the element). Over a mapping: its pairs (each
  // entry's `first` is the key, `second` the value). Nothing over anything else.
  NodeIterator begin() const;
  NodeIterator end() const;

 private:
  friend class YamlTree;
  friend class NodeIterator;
  static constexpr std::uint32_t kUndefined = 0xffffffffu;
  static constexpr std::uint32_t kDetachedNull = 0xfffffffeu;
  Node(const YamlTree* tree, std::uint32_t index) : tree_(tree), index_(index) {}

  const YamlTree* tree_ = nullptr;
  std::uint32_t index_ = kDetachedNull;
};

// What iterating a Node yields: a node (list element), or a pair `first`/`second` (mapping).
struct NodeEntry : Node {
  NodeEntry() : Node(Undefined()) {}
  NodeEntry(Node self, Node k, Node v) : Node(self), first(k), second(v) {}
  Node first = Undefined();
  Node second = Undefined();
};

class NodeIterator {
 public:
  const NodeEntry& operator*() const { return entry_; }
  const NodeEntry* operator->() const { return &entry_; }
  NodeIterator& operator++();
  friend bool operator==(const NodeIterator& a, const NodeIterator& b) { return a.pos_ == b.pos_; }
  friend bool operator!=(const NodeIterator& a, const NodeIterator& b) { return a.pos_ != b.pos_; }

 private:
  friend class Node;
  NodeIterator(const YamlTree* tree, std::uint32_t parent, std::uint32_t pos);
  void Load();

  const YamlTree* tree_ = nullptr;
  std::uint32_t parent_ = 0;
  std::uint32_t pos_ = 0;  // element, or pair, number
  NodeEntry entry_;
};

// A YAML syntax error at a 0-based line and column.
struct YamlSyntaxError {
  int line = 0;
  int column = 0;
  std::string message;
};

// The documents of one YAML text and the tree that holds them.
struct YamlDocuments {
  std::shared_ptr<const YamlTree> tree;
  std::vector<Node> documents;
};

// Parses every document of `text`. Throws YamlSyntaxError (libyaml's problem and context, at
// the problem's mark) on a syntax error, and for an alias whose anchor is not defined before it.
YamlDocuments ParseYaml(const std::string& text);

class YamlTree {
 public:
  struct Record {
    NodeType type = NodeType::Null;
    int line = 0;
    int column = 0;
    std::uint32_t first_child = 0;  // into children_ (lists: elements; maps: key, value, ...)
    std::uint32_t child_count = 0;  // entries in children_ (twice the pairs of a mapping)
    std::uint32_t scalar = 0;       // into scalars_ (scalars only)
  };

  const Record& record(std::uint32_t i) const { return records_[i]; }
  std::uint32_t child(std::uint32_t i) const { return children_[i]; }
  const std::string& scalar(std::uint32_t i) const { return scalars_[i]; }
  Node node(std::uint32_t i) const { return Node(this, i); }

 private:
  friend class TreeBuilder;
  std::vector<Record> records_;
  std::vector<std::uint32_t> children_;
  std::vector<std::string> scalars_;
};

}  // namespace shewhart::engine::config_loader
