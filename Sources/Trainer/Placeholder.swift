// Trainer
