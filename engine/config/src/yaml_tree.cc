#include "yaml_tree.h"

#include <yaml.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "shewhart/base/status.h"

namespace shewhart::engine::config_loader {

namespace {
const std::string kEmpty;
}  // namespace

NodeType Node::Type() const {
  if (index_ == kUndefined) return NodeType::Undefined;
  if (index_ == kDetachedNull) return NodeType::Null;
  return tree_->record(index_).type;
}

const std::string& Node::Scalar() const {
  if (!IsScalar()) return kEmpty;
  return tree_->scalar(tree_->record(index_).scalar);
}

NodeMark Node::Mark() const {
  if (index_ == kUndefined || index_ == kDetachedNull) return {};
  const YamlTree::Record& r = tree_->record(index_);
  return {r.line, r.column};
}

std::size_t Node::size() const {
  const NodeType t = Type();
  if (t == NodeType::Sequence) return tree_->record(index_).child_count;
  if (t == NodeType::Map) return tree_->record(index_).child_count / 2;
  return 0;
}

Node Node::operator[](std::string_view key) const {
  if (!IsMap()) return Undefined();
  const YamlTree::Record& r = tree_->record(index_);
  for (std::uint32_t i = 0; i < r.child_count; i += 2) {
    const std::uint32_t k = tree_->child(r.first_child + i);
    const YamlTree::Record& kr = tree_->record(k);
    if (kr.type == NodeType::Scalar && tree_->scalar(kr.scalar) == key) {
      return Node(tree_, tree_->child(r.first_child + i + 1));
    }
  }
  return Undefined();
}

Node Node::operator[](std::size_t i) const {
  if (!IsSequence()) return Undefined();
  const YamlTree::Record& r = tree_->record(index_);
  if (i >= r.child_count) return Undefined();
  return Node(tree_, tree_->child(r.first_child + static_cast<std::uint32_t>(i)));
}

NodeIterator Node::begin() const {
  const NodeType t = Type();
  if (t != NodeType::Sequence && t != NodeType::Map) return NodeIterator(nullptr, 0, 0);
  return NodeIterator(tree_, index_, 0);
}

NodeIterator Node::end() const {
  const NodeType t = Type();
  if (t != NodeType::Sequence && t != NodeType::Map) return NodeIterator(nullptr, 0, 0);
  return NodeIterator(tree_, index_, static_cast<std::uint32_t>(size()));
}

NodeIterator::NodeIterator(const YamlTree* tree, std::uint32_t parent, std::uint32_t pos)
    : tree_(tree), parent_(parent), pos_(pos) {
  Load();
}

NodeIterator& NodeIterator::operator++() {
  ++pos_;
  Load();
  return *this;
}

// The entry at pos_, when there is one.
void NodeIterator::Load() {
  if (tree_ == nullptr) return;
  const YamlTree::Record& r = tree_->record(parent_);
  if (r.type == NodeType::Sequence) {
    if (pos_ < r.child_count)
      entry_ = NodeEntry(Node(tree_, tree_->child(r.first_child + pos_)), Node::Undefined(), Node::Undefined());
  } else if (pos_ * 2 < r.child_count) {
    entry_ = NodeEntry(Node::Undefined(), Node(tree_, tree_->child(r.first_child + 2 * pos_)),
                       Node(tree_, tree_->child(r.first_child + 2 * pos_ + 1)));
  }
}

// Appends the nodes of libyaml's parser events to a tree. A container's children are gathered
// on a stack while it is open and copied into the children array when it closes, so that each
// container's children are contiguous.
class TreeBuilder {
 public:
  explicit TreeBuilder(YamlTree& tree) : tree_(tree) {}

  // The documents completed so far.
  std::vector<std::uint32_t>& documents() { return documents_; }

  // One event; throws YamlSyntaxError for an alias without its anchor.
  void On(const yaml_event_t& e) {
    const yaml_mark_t& mark = e.start_mark;
    switch (e.type) {
      case YAML_SCALAR_EVENT: {
        const auto& d = e.data.scalar;
        std::string value(reinterpret_cast<const char*>(d.value), d.length);
        // A plain scalar without a tag that spells null (or nothing) is a null, as YAML 1.2's
        // core schema and yaml-cpp have it; quoted, it is a string.
        if (d.style == YAML_PLAIN_SCALAR_STYLE && d.tag == nullptr && IsNullSpelling(value)) {
          Add(NewRecord(NodeType::Null, mark), d.anchor);
          return;
        }
        const std::uint32_t i = NewRecord(NodeType::Scalar, mark);
        tree_.records_[i].scalar = static_cast<std::uint32_t>(tree_.scalars_.size());
        tree_.scalars_.push_back(std::move(value));
        Add(i, d.anchor);
        return;
      }
      case YAML_ALIAS_EVENT: {
        const std::string name = Text(e.data.alias.anchor);
        auto it = anchors_.find(name);
        if (it == anchors_.end()) {
          throw YamlSyntaxError{static_cast<int>(mark.line), static_cast<int>(mark.column),
                                "alias '*" + name + "' names no anchor of a node complete before it in this document"};
        }
        Add(it->second, nullptr);
        return;
      }
      case YAML_DOCUMENT_START_EVENT:
        anchors_.clear();
        return;  // anchors are per document
      case YAML_SEQUENCE_START_EVENT:
        Open(NodeType::Sequence, mark, e.data.sequence_start.anchor);
        return;
      case YAML_MAPPING_START_EVENT:
        Open(NodeType::Map, mark, e.data.mapping_start.anchor);
        return;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        Close();
        return;
      default:
        return;  // stream and document boundaries
    }
  }

 private:
  struct OpenContainer {
    std::uint32_t record;
    std::string anchor;
    std::size_t first_pending;  // where its children start on pending_
  };

  static std::string Text(const yaml_char_t* s) { return s ? std::string(reinterpret_cast<const char*>(s)) : ""; }
  static bool IsNullSpelling(const std::string& v) {
    return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
  }

  std::uint32_t NewRecord(NodeType type, const yaml_mark_t& mark) {
    YamlTree::Record r;
    r.type = type;
    r.line = static_cast<int>(mark.line);
    r.column = static_cast<int>(mark.column);
    tree_.records_.push_back(r);
    return static_cast<std::uint32_t>(tree_.records_.size() - 1);
  }

  // A complete node: a child of the innermost open container, or a document.
  void Add(std::uint32_t record, const yaml_char_t* anchor) { Add(record, Text(anchor)); }
  void Add(std::uint32_t record, const std::string& anchor) {
    if (!anchor.empty()) anchors_[anchor] = record;
    if (open_.empty()) {
      documents_.push_back(record);
    } else {
      pending_.push_back(record);
    }
  }

  void Open(NodeType type, const yaml_mark_t& mark, const yaml_char_t* anchor) {
    open_.push_back(OpenContainer{NewRecord(type, mark), Text(anchor), pending_.size()});
  }

  void Close() {
    const OpenContainer c = open_.back();
    open_.pop_back();
    YamlTree::Record& r = tree_.records_[c.record];
    r.first_child = static_cast<std::uint32_t>(tree_.children_.size());
    r.child_count = static_cast<std::uint32_t>(pending_.size() - c.first_pending);
    tree_.children_.insert(tree_.children_.end(), pending_.begin() + static_cast<std::ptrdiff_t>(c.first_pending),
                           pending_.end());
    pending_.resize(c.first_pending);
    Add(c.record, c.anchor);
  }

  YamlTree& tree_;
  std::vector<OpenContainer> open_;
  std::vector<std::uint32_t> pending_;
  std::vector<std::uint32_t> documents_;
  std::map<std::string, std::uint32_t> anchors_;
};

YamlDocuments ParseYaml(const std::string& text) {
  auto tree = std::make_shared<YamlTree>();
  TreeBuilder builder(*tree);
  yaml_parser_t parser;
  SHEWHART_CHECK(yaml_parser_initialize(&parser) == 1);  // fails only when out of memory
  // Frees the parser (and the event in hand) however the loop ends.
  struct Cleanup {
    yaml_parser_t* parser;
    yaml_event_t* event = nullptr;
    ~Cleanup() {
      if (event) yaml_event_delete(event);
      yaml_parser_delete(parser);
    }
  } cleanup{&parser};
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  yaml_event_t event;
  for (;;) {
    if (!yaml_parser_parse(&parser, &event)) {
      std::string message = parser.problem ? parser.problem : "unreadable";
      if (parser.context) message += std::string(" ") + parser.context;
      if (parser.error == YAML_READER_ERROR) {
        // The reader (bad UTF-8, a control character) gives a byte offset, not a mark.
        const std::size_t at = std::min(parser.problem_offset, text.size());
        int line = 0, column = 0;
        for (std::size_t i = 0; i < at; ++i) {
          if (text[i] == '\n') {
            ++line;
            column = 0;
          } else {
            ++column;
          }
        }
        if (at < text.size()) {
          char byte[8];
          std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(text[at])));
          message += std::string(" at byte ") + byte + " (YAML is UTF-8 text)";
        }
        throw YamlSyntaxError{line, column, message};
      }
      throw YamlSyntaxError{static_cast<int>(parser.problem_mark.line), static_cast<int>(parser.problem_mark.column),
                            message};
    }
    cleanup.event = &event;
    builder.On(event);
    const bool end = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    cleanup.event = nullptr;
    if (end) break;
  }
  YamlDocuments out;
  for (std::uint32_t d : builder.documents()) out.documents.push_back(tree->node(d));
  out.tree = std::move(tree);
  return out;
}

}  // namespace shewhart::engine::config_loader
