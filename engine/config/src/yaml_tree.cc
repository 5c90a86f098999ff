#include "yaml_tree.h"

#include <yaml-cpp/eventhandler.h>

#include <map>
#include <sstream>

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
    if (pos_ < r.child_count) entry_ = NodeEntry(Node(tree_, tree_->child(r.first_child + pos_)), Node::Undefined(),
                                                 Node::Undefined());
  } else if (pos_ * 2 < r.child_count) {
    entry_ = NodeEntry(Node::Undefined(), Node(tree_, tree_->child(r.first_child + 2 * pos_)),
                       Node(tree_, tree_->child(r.first_child + 2 * pos_ + 1)));
  }
}

// Receives yaml-cpp's parser events and appends the nodes to a tree. A container's children
// are gathered on a stack while it is open and copied into the children array when it closes,
// so that each container's children are contiguous.
class TreeBuilder : public YAML::EventHandler {
 public:
  explicit TreeBuilder(YamlTree& tree) : tree_(tree) {}

  // The documents completed so far.
  std::vector<std::uint32_t>& documents() { return documents_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Add(NewRecord(NodeType::Null, mark), anchor);
  }
  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    // The parser refuses an unknown alias before it reaches here.
    SHEWHART_CHECK(it != anchors_.end());
    Add(it->second, 0);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    const std::uint32_t i = NewRecord(NodeType::Scalar, mark);
    tree_.records_[i].scalar = static_cast<std::uint32_t>(tree_.scalars_.size());
    tree_.scalars_.push_back(value);
    Add(i, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(NodeType::Sequence, mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(NodeType::Map, mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct OpenContainer {
    std::uint32_t record;
    YAML::anchor_t anchor;
    std::size_t first_pending;  // where its children start on pending_
  };

  std::uint32_t NewRecord(NodeType type, const YAML::Mark& mark) {
    YamlTree::Record r;
    r.type = type;
    r.line = mark.line;
    r.column = mark.column;
    tree_.records_.push_back(r);
    return static_cast<std::uint32_t>(tree_.records_.size() - 1);
  }

  // A complete node: a child of the innermost open container, or a document.
  void Add(std::uint32_t record, YAML::anchor_t anchor) {
    if (anchor != 0) anchors_[anchor] = record;
    if (open_.empty()) {
      documents_.push_back(record);
    } else {
      pending_.push_back(record);
    }
  }

  void Open(NodeType type, const YAML::Mark& mark, YAML::anchor_t anchor) {
    open_.push_back(OpenContainer{NewRecord(type, mark), anchor, pending_.size()});
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
  std::map<YAML::anchor_t, std::uint32_t> anchors_;
};

YamlDocuments ParseYaml(const std::string& text) {
  auto tree = std::make_shared<YamlTree>();
  TreeBuilder builder(*tree);
  std::istringstream in(text);
  YAML::Parser parser(in);
  while (parser.HandleNextDocument(builder)) {
  }
  YamlDocuments out;
  for (std::uint32_t d : builder.documents()) out.documents.push_back(tree->node(d));
  out.tree = std::move(tree);
  return out;
}

}  // namespace shewhart::engine::config_loader
