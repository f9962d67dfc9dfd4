// EngineBench
