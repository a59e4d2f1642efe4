"""Messages: the schema pack, sample messages, validation and the business rules over message content.

Everything here is about one message (or a pair: correlation, MPAN, consumption window) and knows
nothing of transport, the DIP or a run.
"""
