"""Lead scoring: fit points for who the lead is, behaviour points that fade, and the ledger."""
