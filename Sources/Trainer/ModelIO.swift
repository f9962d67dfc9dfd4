import Layers
enum ModelIO {
    static func save(_ a: ParameterArena, to path: String, metadata: [String: String]) throws {}
    static func load(_ a: ParameterArena, from path: String) throws { throw TrainerError("todo") }
}
