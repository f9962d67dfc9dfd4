print("gdqr-train")
