//! XML in and out, with quick-xml.
//!
//! Why quick-xml: it is the most used and best kept XML crate for Rust
//! (streaming reader and writer, serde support, no C dependency, escaping
//! done right). Requests are small documents with a fixed shape, so they are
//! read with its serde deserializer into the structs of `model`; replies are
//! written with its event writer, element by element, because Route 53's
//! clients expect its elements in the exact order of the botocore model and
//! an explicit writer makes that order plain to read and check.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// Route 53's XML namespace.
pub const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// A reply document under construction.
pub struct Doc {
    writer: Writer<Vec<u8>>,
    open: Vec<&'static str>,
}

impl Doc {
    /// Starts a document whose root element is `root`, in Route 53's
    /// namespace.
    pub fn new(root: &'static str) -> Doc {
        let mut doc = Doc {
            writer: Writer::new(Vec::with_capacity(1024)),
            open: Vec::new(),
        };
        doc.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        doc.event(Event::Start(
            BytesStart::new(root).with_attributes([("xmlns", NAMESPACE)]),
        ));
        doc.open.push(root);
        doc
    }

    fn event(&mut self, event: Event<'_>) {
        // Writing into a Vec cannot fail.
        self.writer
            .write_event(event)
            .expect("writing XML to memory");
    }

    /// Opens element `name`; [`Doc::close`] closes it.
    pub fn open(&mut self, name: &'static str) -> &mut Doc {
        self.event(Event::Start(BytesStart::new(name)));
        self.open.push(name);
        self
    }

    /// Closes the element opened last.
    pub fn close(&mut self) -> &mut Doc {
        let name = self.open.pop().expect("an open element");
        self.event(Event::End(BytesEnd::new(name)));
        self
    }

    /// `<name>text</name>`, escaped.
    pub fn text(&mut self, name: &'static str, text: impl std::fmt::Display) -> &mut Doc {
        let text = text.to_string();
        self.event(Event::Start(BytesStart::new(name)));
        self.event(Event::Text(BytesText::new(&text)));
        self.event(Event::End(BytesEnd::new(name)));
        self
    }

    /// `<name>text</name>` when there is a value.
    pub fn opt(&mut self, name: &'static str, text: Option<impl std::fmt::Display>) -> &mut Doc {
        if let Some(text) = text {
            self.text(name, text);
        }
        self
    }

    /// Closes every open element and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        while !self.open.is_empty() {
            self.close();
        }
        self.writer.into_inner()
    }
}

/// Parses a request body into `T`.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the body is not UTF-8: {e}"))?;
    quick_xml::de::from_str(text).map_err(|e| format!("invalid XML body: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_nest_and_text_is_escaped() {
        let mut doc = Doc::new("GetChangeResponse");
        doc.open("ChangeInfo")
            .text("Id", "C1")
            .text("Comment", "a < b & c");
        doc.opt("Missing", None::<&str>);
        let xml = String::from_utf8(doc.finish()).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <GetChangeResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
             <ChangeInfo><Id>C1</Id><Comment>a &lt; b &amp; c</Comment></ChangeInfo>\
             </GetChangeResponse>"
        );
    }
}
