"""The capstone (chapter 08): a secure, reliable, causally ordered group chat."""
