import ArgumentParser
import EDLCMCore
import Foundation

/// The settings of a command: `--config FILE` and every setting flag of `Group` (declared once, in
/// the group; ``SettingsGroup/helpText`` lists them in the command's help). The flags are taken
/// as the argument parser leaves them and applied by the group itself.
struct SettingsOptions<Group: SettingsGroup>: ParsableArguments {
    @Option(help: "A JSON or YAML file of settings, keyed by flag name (flags given here override it).")
    var config: String?

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Setting flags, listed under SETTINGS.", valueName: "setting"))
    var flags: [String] = []

    /// The defaults (or `base`), then the file, then the flags, validated.
    func resolve(over base: Group = Group()) throws -> Validated<Group> {
        try Group.resolve(file: config, arguments: flags, over: base)
    }

    /// Whether any setting was given (a file or a flag).
    var isEmpty: Bool { config == nil && flags.isEmpty }
}

/// The help section that lists a group's settings, to follow a command's discussion.
func settingsHelp<Group: SettingsGroup>(_ group: Group.Type) -> String {
    "\n\nSETTINGS (flags, and keys of --config files):\n" + Group.helpText()
}

/// `--run DIR`: the run folder a command reads.
struct RunFolderOption: ParsableArguments {
    @Option(name: .customLong("run"), help: "The run folder of a trained ensemble (written by edlcm train).")
    var path: String
}
